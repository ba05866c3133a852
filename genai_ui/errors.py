"""What a user can get wrong, each with a message a person understands: every such error of the app
is here, grouped as huggingface_hub groups its own.

    UserError                      anything a person can fix; str(error) is the message
    ├── InvalidParameter           a value outside what is accepted (EmptyMessage, PromptTooLong,
    │                              NothingToConvert, TooLarge, UnreadableDocument)
    ├── ModelNotFound, WrongTask, DeviceNotFound, NotAvailable
    ├── NotAllowed                 not for this caller (SignInRequired, GatedModel, WriteTokenNeeded,
    │                              WrongKey)
    ├── HubUnavailable             the Hub cannot be reached
    ├── Busy                       a line is full
    ├── Failed                     the engine or a step failed (ModelLoadError, DraftMismatch,
    │                              GenerationFailed, ConversionFailed)
    └── Cancelled                  the person asked to stop; the message says what was kept

The UI and the API turn these, and only these, into messages (ui/errors.py); anything else is a
bug and is logged with its traceback on the server side.
"""


class UserError(Exception):
    """A problem the user can fix; `str(error)` is the message shown to them."""


# What was asked for


class InvalidParameter(UserError):
    """A value outside what the engine accepts."""


class EmptyMessage(InvalidParameter):
    def __init__(self) -> None:
        super().__init__("Type a message first: an empty message has nothing to answer.")


class PromptTooLong(InvalidParameter):
    pass


class TooLarge(InvalidParameter):
    """A request over a size bound."""


class UnreadableDocument(InvalidParameter):
    """A file that cannot be read as the document its name says it is (empty, encrypted, damaged, another kind)."""


class NothingToConvert(InvalidParameter):
    """A checkpoint with no weights an export reads, once the files it does not read are left out."""


# What is here


class ModelNotFound(UserError):
    def __init__(self, model_id: str, known: list[str]) -> None:
        hint = f" Models in the library: {', '.join(known)}." if known else " The library is empty."
        super().__init__(f"No model '{model_id}' in the library.{hint}")


class WrongTask(UserError):
    def __init__(self, model_id: str, task: str, wanted: str) -> None:
        article = "an" if wanted[:1] in "aeiou" else "a"
        super().__init__(f"Model '{model_id}' is a {task} model; this needs {article} {wanted} model.")


class DeviceNotFound(UserError):
    def __init__(self, device: str, known: list[str]) -> None:
        super().__init__(f"Device '{device}' is not available here. Choose one of: {', '.join(known)}.")


class NotAvailable(UserError):
    """A capability this installation cannot offer."""


# Who asks


class NotAllowed(UserError):
    """The deployment's operator has not allowed this, or it is someone else's."""


class SignInRequired(NotAllowed):
    """This needs a Hugging Face sign-in."""


class GatedModel(NotAllowed):
    """The repo needs a token with access."""


class WriteTokenNeeded(NotAllowed):
    """No token, or one the Hub does not let write."""


class WrongKey(NotAllowed):
    """An API call without the key the operator set, or with another."""


# The Hub and the lines


class HubUnavailable(UserError):
    """The Hub cannot be reached (or the app is offline); the library keeps working."""


class Busy(UserError):
    """The line is full."""


# The work itself


class Failed(UserError):
    """The engine or a step of a job failed; what the person had is kept."""


class ModelLoadError(Failed):
    """The model's files are missing or broken, or the device refused it."""


class DraftMismatch(Failed):
    """A draft model for speculative decoding whose tokenizer is not its model's."""


class GenerationFailed(Failed):
    """The engine failed while answering; the conversation so far is kept."""


class ConversionFailed(Failed):
    """A step of a conversion failed, with its own last words; nothing was added to the library."""


class Cancelled(UserError):
    """The person asked to stop. Nothing half-done is kept; the message says what is."""

    def __init__(self, message: str = "Cancelled: nothing was added to the library.") -> None:
        super().__init__(message)


def first_line(err: Exception) -> str:
    """OpenVINO's messages carry C++ file paths and stack lines; keep the sentence."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check ", "/")) and ".cpp:" not in ln]
    return (useful or lines or ["unknown error"])[0][:300]
