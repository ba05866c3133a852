"""The one place errors become messages: user errors say themselves, bugs say sorry, HTML is escaped."""

import gradio as gr
import pytest

from genai_ui.errors import Cancelled, InvalidParameter, NotAllowed, SignInRequired, UserError
from genai_ui.ui.errors import error_html, user_errors


def test_error_html_escapes_and_hides_a_bug():
    assert error_html(InvalidParameter("<img src=x onerror=alert(1)>")) == \
        '<span class="gu-error">⚠ &lt;img src=x onerror=alert(1)&gt;</span>'
    assert error_html(KeyError("/etc/secret path"), "The download failed.") == \
        '<span class="gu-error">⚠ The download failed.</span>'
    assert "a & b" not in error_html("a & b") and "a &amp; b" in error_html("a & b")


def test_user_errors_wraps_functions_and_generators(caplog):
    @user_errors
    def plain(kind):
        raise InvalidParameter("Pick a model first.") if kind == "user" else ZeroDivisionError("bug")

    @user_errors
    def streamed():
        yield 1
        raise NotAllowed("Not for visitors.")

    with pytest.raises(gr.Error, match="Pick a model first."):
        plain("user")
    with pytest.raises(gr.Error, match=r"Something went wrong on the server \(ZeroDivisionError\)"):
        plain("bug")
    assert "ZeroDivisionError: bug" in caplog.text  # the traceback is in the server's log, not the page
    stream = streamed()
    assert next(stream) == 1
    with pytest.raises(gr.Error, match="Not for visitors."):
        next(stream)


def test_the_errors_are_one_family():
    """Every user error of the app is a UserError of errors.py; sign-in is a kind of not allowed."""
    import genai_ui.errors as errors

    mine = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert all(issubclass(c, UserError) and c.__module__ == "genai_ui.errors" for c in mine)
    assert issubclass(SignInRequired, NotAllowed)
    assert str(Cancelled()) == "Cancelled: nothing was added to the library."
