"""A new Gradio session (each call of the HTTP API, each page opened) no longer makes every component's config
before its event runs: the configs it reads are made when read, the same as Gradio's own."""

from genai_ui.ui.app import SESSION_STATE_OF, build_app, lazy_session_configs


def test_a_new_sessions_configs_are_gradios_made_when_read(services):
    import gradio as gr
    from gradio.state_holder import SessionState

    assert gr.__version__ == SESSION_STATE_OF and lazy_session_configs(), \
        "Gradio changed: check its SessionState.__init__ against lazy_session_configs(), then SESSION_STATE_OF"
    demo = build_app(services)
    blocks = demo.default_config
    eager = {k: blocks.config_for_block(k, [], v) for k, v in blocks.blocks.items() if k in demo.blocks}
    assert len(eager) > 100  # this page's components: what a new session no longer pays for at once

    state = SessionState(demo)
    textbox = next(k for k, v in blocks.blocks.items() if isinstance(v, gr.Textbox))
    state._update_value_in_config(textbox, "typed")  # as an event's input is recorded
    assert state.config_values[textbox]["props"]["value"] == "typed"
    assert len(state.config_values._pending) == len(eager) - 1  # one made, the rest still waiting
    state[textbox] = blocks.blocks[textbox]  # an update replaces it, as Gradio does
    made = dict(state.config_values.items())
    assert list(made) == list(eager)  # every one, in Gradio's order
    assert {k: v for k, v in made.items() if k != textbox} == {k: v for k, v in eager.items() if k != textbox}
    assert len(list(state.components)) == sum(1 for v in eager.values() if v)
    assert state.state_data == {} and not state.is_closed and state.STATE_TTL_WHEN_CLOSED == 3600
