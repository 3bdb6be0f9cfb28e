"""Real services for tests: PostgreSQL, RabbitMQ and a throwaway SeaweedFS."""
