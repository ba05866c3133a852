"""What the page's API tab shows: the /v1 address as the visitor's browser reaches the app, whether they may
use it, and code to copy (openai for Python, curl, LangChain) with the library's model ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

PLACEHOLDER_KEY = "<the API key the operator gave you>"


@dataclass(frozen=True)
class Access:
    on: bool  # this visitor may call /v1
    key: bool  # with a key (never shown: the operator gives it out)
    why: str  # one line for the page


def access(api_key: str, shared: bool) -> Access:
    """What routes.V1.caller decides for this visitor, said in a line."""
    if api_key:
        return Access(True, True, "On: send the API key the operator set (`Authorization: Bearer <key>`).")
    if shared:
        return Access(False, False, "Off on this shared deployment: its operator turns it on by setting an API key "
                                    "(`--api-key` or `GENAI_UI_API_KEY`).")
    return Access(True, False, "On, for this machine's own user: no key is needed (`--api-key` sets one).")


def base_url(headers: dict[str, str], from_page: bool = True) -> str:
    """/v1's address as the client reaches the app: for an event of the page, the page it was sent from
    (behind a proxy or a Space too); else the Host it asked for, with the scheme a proxy says it took."""
    page = urlsplit(headers.get("referer", "") if from_page else "")
    if page.scheme in ("http", "https") and page.netloc:
        path = page.path if page.path.endswith("/") else page.path.rsplit("/", 1)[0] + "/"
        return f"{page.scheme}://{page.netloc}{path}v1"
    scheme = headers.get("x-forwarded-proto", "http").split(",")[0].strip()
    return f"{scheme}://{headers.get('host', '127.0.0.1:7860')}/v1"


def snippets(base: str, chat_model: str, key: bool) -> dict[str, str]:
    """Code that works as it is pasted: the openai package, curl, LangChain."""
    model = chat_model or "<a chat model id from GET /v1/models>"
    api_key = f'"{PLACEHOLDER_KEY}"' if key else '"none"'
    auth = f" \\\n  -H 'Authorization: Bearer {PLACEHOLDER_KEY}'" if key else ""
    body = json.dumps({"model": model, "stream": True, "temperature": 0,
                       "messages": [{"role": "user", "content": "What is the capital of France?"}]})
    return {
        "python": f'''from openai import OpenAI

ai = OpenAI(base_url="{base}", api_key={api_key})
print([m.id for m in ai.models.list()])
for chunk in ai.chat.completions.create(
        model="{model}", stream=True, temperature=0,
        messages=[{{"role": "user", "content": "What is the capital of France?"}}]):
    print(chunk.choices[0].delta.content or "", end="", flush=True)
''',
        "curl": f"""curl {base}/models{auth}

curl -N {base}/chat/completions{auth} \\
  -H 'Content-Type: application/json' \\
  -d '{body}'
""",
        "langchain": f'''from langchain_openai import ChatOpenAI  # pip install langchain-openai

llm = ChatOpenAI(base_url="{base}", api_key={api_key},
                 model="{model}", temperature=0)
print(llm.invoke("What is the capital of France?").content)
''',
    }
