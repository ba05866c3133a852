"""genai_ui: from a model on the Hugging Face Hub to that model running on OpenVINO."""

__version__ = "0.1.0"
