"""Why a command failed, and the exit status it ends with (listed in `latchkey --help`)."""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_SIGNED_IN = 3
EXIT_NOT_ALLOWED = 4
EXIT_NOT_FOUND = 5
EXIT_WRONG_STATE = 6
EXIT_NO_ACCESS = 7
EXIT_TIMED_OUT = 8
EXIT_UNAVAILABLE = 9
EXIT_INVALID = 10
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit status:
  0    done
  1    unexpected error (the portal's answer was not understood)
  2    wrong usage of the command line
  3    not signed in: no token, or the portal refused it (expired, wrong audience, ...)
  4    not allowed (not eligible, not an approver, not the holder, ...)
  5    no such request or role (or not one you may see)
  6    the request is not in a state that allows this, or the credentials were already shown
  7    the request ended without access (denied, cancelled, expired, failed or revoked)
  8    gave up waiting (--timeout)
  9    the portal, Vault or the sign-in service is unavailable; try again later
  10   invalid input (the portal says which field)
  130  interrupted (Ctrl-C)
  `latchkey run` ends with the status of its command (127: command not found)."""

_BY_STATUS = {
    400: EXIT_INVALID,
    401: EXIT_NOT_SIGNED_IN,
    403: EXIT_NOT_ALLOWED,
    404: EXIT_NOT_FOUND,
    409: EXIT_WRONG_STATE,
    410: EXIT_WRONG_STATE,
    502: EXIT_UNAVAILABLE,
    503: EXIT_UNAVAILABLE,
    504: EXIT_UNAVAILABLE,
}


class CliError(Exception):
    """A failure to report in one line on standard error, ending the command with `exit_code`."""

    def __init__(self, message: str, *, exit_code: int = EXIT_ERROR):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """The portal answered with an error body `{"error", "detail"}`."""

    def __init__(self, *, status: int, code: str, detail: str, fields: dict | None = None):
        message = detail
        if fields:
            message += "".join(f"\n  {name}: {' '.join(map(str, texts))}" for name, texts in fields.items())
        super().__init__(message, exit_code=_BY_STATUS.get(status, EXIT_ERROR))
        self.status = status
        self.code = code
