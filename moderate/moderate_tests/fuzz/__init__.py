"""Property-based fuzzing of every parser that reads outside input.

Each ``test_fuzz_<area>.py`` module replays its committed seed corpus
(``corpus/<area>/``) and then lets hypothesis generate inputs for a bounded
number of examples. Any unhandled exception, hang (hypothesis deadline) or crash
fails the test.
"""
