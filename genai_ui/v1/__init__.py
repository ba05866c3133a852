"""The OpenAI-compatible API: /v1 on the app's own address, served from the same services and engines as the page."""
