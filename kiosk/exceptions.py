"""All errors the kiosk raises, in one place."""

from __future__ import annotations


class KioskError(Exception):
    """Base class of every kiosk error."""


class ConfigError(KioskError):
    """A configuration file or value is missing or invalid."""


class MessageError(KioskError):
    """A bus message is malformed, truncated or too large."""


class CommandError(KioskError):
    """A command was refused; ``code`` says which check failed.

    Codes: ``schema`` (bad name or arguments), ``role`` (sender may not send
    it), ``phase`` (not allowed in the room's current phase), ``state`` (refers
    to something that does not exist).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BusError(KioskError):
    """The room bus could not be reached or answered with an error."""


class StoreError(KioskError):
    """The room's database could not be opened or migrated."""


class MailError(KioskError):
    """A mail could not be sent (no server configured, or the server refused it)."""


class DependencyError(KioskError):
    """An installed package lacks a private name the kiosk patches or reads.

    ``problems`` lists ``(package, name, expected)``; the message adds each
    package's installed version. The versions in ``requirements.lock`` fit.
    """

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        from importlib.metadata import PackageNotFoundError, version

        def installed(package: str) -> str:
            try:
                return version(package)
            except PackageNotFoundError:
                return "(not installed)"

        lines = [f"  {package} {installed(package)}: {name} is missing or changed "
                 f"(the kiosk needs {expected})" for package, name, expected in problems]
        super().__init__("Installed packages do not fit the kiosk; install the versions in "
                         "requirements.lock:\n" + "\n".join(lines))
        self.problems = problems
