"""grader: an autograder for numerical programming assignments."""

__version__ = "0.1.0"
