"""Course tooling that is neither library nor lesson: the student-edition generator."""
