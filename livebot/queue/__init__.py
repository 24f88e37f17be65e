"""The job queue, its workers, and the registry of job kinds."""
