"""The HTTP edge: parse, call the fleet service, render. Nothing else."""
