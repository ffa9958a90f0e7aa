"""The one exception type a stage raises for bad input; the CLI prints it as a one-line error."""


class PipelineError(Exception):
    """A problem the user can fix (bad params, missing or corrupt files, bad text).

    The message names what is wrong and what would be right; the CLI prints it on one
    line and exits with status 1.
    """
