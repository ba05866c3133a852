"""What a user can get wrong, each with a message a person understands.

The UI and the API turn these, and only these, into messages; anything else is a
bug and is logged with its traceback on the server side.
"""


class UserError(Exception):
    """A problem the user can fix; `str(error)` is the message shown to them."""


class InvalidParameter(UserError):
    """A value outside what the engine accepts."""


class EmptyMessage(UserError):
    def __init__(self) -> None:
        super().__init__("Type a message first: an empty message has nothing to answer.")


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


class ModelLoadError(UserError):
    """The model's files are missing or broken, or the device refused it."""


class DraftMismatch(UserError):
    """A draft model for speculative decoding whose tokenizer is not its model's."""


class PromptTooLong(UserError):
    pass


class GenerationFailed(UserError):
    """The engine failed while answering; the conversation so far is kept."""


class NotAvailable(UserError):
    """A capability this installation cannot offer."""


def first_line(err: Exception) -> str:
    """OpenVINO's messages carry C++ file paths and stack lines; keep the sentence."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check ", "/")) and ".cpp:" not in ln]
    return (useful or lines or ["unknown error"])[0][:300]
