"""The `python -m local` commands, one module each (bench is a package): up, worker, redis,
status, bench. Each has HELP, add_arguments(parser) and run(args) -> exit code; what they are
built from is in local/parts.
"""
