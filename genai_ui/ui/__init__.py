"""The Gradio layer: thin handlers over the core, and the Gradio client the benchmark uses.
Only this package imports gradio. Import its modules directly (genai_ui.ui.app,
genai_ui.ui.client): this file imports nothing, so the client does not pull in the server."""
