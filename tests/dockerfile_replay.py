"""A Dockerfile read and replayed without Docker, which the test machines do not have.

The image's file system is a folder (`root`): WORKDIR, COPY destinations, HOME and the users'
homes are mapped into it. The Python packages go into a fresh virtualenv made with this Python,
first on PATH, so each RUN's `pip` and `python` are the virtualenv's and every RUN runs as written.
One rewrite: the PyTorch CPU wheel index cannot be reached here, so its --index-url is dropped and
pip takes CPU torch from this machine's own sources (PIP_FIND_LINKS, its indexes, PyPI).
Steps that would change this machine rather than the image (useradd, apt-get, chown) are not run:
a lone useradd is read for the user it makes; the others stop the replay with a message.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

TORCH_CPU_INDEX = re.compile(r"\s+--index-url[= ]https://download\.pytorch\.org/whl/cpu/?(?=\s|$)")
TORCH_REWRITE_NOTE = ("dropped `--index-url https://download.pytorch.org/whl/cpu` (unreachable here): pip takes "
                      "CPU torch from this machine's PIP_FIND_LINKS / indexes / PyPI instead")
# commands that act on the machine that runs them, which here is not a container
SYSTEM_COMMANDS = {"sudo", "su", "apt-get", "apt", "apk", "useradd", "adduser", "groupadd", "usermod", "chown"}
OPERATORS = {";", "&&", "||", "|", "&"}
# what must not leak from this machine into the image's environment
NOT_INHERITED = ("GENAI_UI_HOME", "SPACE_ID", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "HF_TOKEN")
KEYWORDS = {"FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "CMD", "LABEL"}


class ReplayError(Exception):
    """A Dockerfile that would not build: the message names its line and says why."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str  # the text after the keyword, continuation lines joined
    line: int

    def words(self) -> list[str]:
        """The exec (JSON) form as a list, the shell form as one `sh -c` command."""
        if self.value.startswith("["):
            return json.loads(self.value)
        return ["/bin/sh", "-c", self.value]


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    home: str


def parse(text: str) -> list[Instruction]:
    """Docker's reading of a Dockerfile: `\\` continues a line, comment lines vanish even inside one."""
    instructions, pending, start = [], [], 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        start = start or number
        stripped = raw.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        keyword, _, value = "".join([*pending, stripped]).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip(), start))
        pending, start = [], 0
    if pending:
        raise ReplayError(f"line {start}: the Dockerfile ends inside a continued line")
    return instructions


def read(path: Path) -> list[Instruction]:
    return parse(path.read_text())


def expand(text: str, env: dict[str, str]) -> str:
    """$NAME and ${NAME} from the Dockerfile's own ENV, as Docker expands them in ENV, WORKDIR, COPY, USER."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)


def env_pairs(instruction: Instruction, env: dict[str, str]) -> dict[str, str]:
    words = shlex.split(instruction.value)
    if words and "=" not in words[0]:  # the old form: ENV NAME value with spaces
        return {words[0]: expand(instruction.value.split(None, 1)[1], env)}
    return {k: expand(v, env) for k, _, v in (w.partition("=") for w in words)}


def commands(text: str) -> list[list[str]]:
    """A shell command line cut at ;, &&, || and |, quotes respected; each without its leading NAME=value."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found, current = [], []
    for token in [*lexer, ";"]:
        if token not in OPERATORS:
            current.append(token)
        elif current:
            while current and re.fullmatch(r"\w+=.*", current[0]):
                current.pop(0)
            found.append(current)
            current = []
    return [c for c in found if c]


def created_user(instruction: Instruction) -> User | None:
    """The user a lone `RUN useradd …` makes; None for other RUNs."""
    found = commands(instruction.value)
    if not any(c[0] in ("useradd", "adduser") for c in found):
        return None
    if len(found) > 1:
        raise ReplayError(f"line {instruction.line}: put useradd in a RUN of its own, so the replay can read "
                          "the user it makes without running it")
    words = found[0]
    uid, home, name, args = None, None, None, iter(words[1:])
    for word in args:
        if word in ("-u", "--uid"):
            uid = int(next(args))
        elif word in ("-d", "--home-dir", "--home"):
            home = next(args)
        elif word in ("-g", "--gid", "-G", "--groups", "-s", "--shell", "-c", "--comment"):
            next(args)
        elif not word.startswith("-"):
            name = word
    if name is None or uid is None:
        raise ReplayError(f"line {instruction.line}: give {words[0]} a name and a --uid")
    return User(name, uid, home or f"/home/{name}")


@dataclass(frozen=True)
class Facts:
    """What the Dockerfile says, read without running anything."""
    base: str
    env: dict[str, str]
    users: dict[str, User]
    user: str  # the user the CMD runs as
    workdir: str
    exposed: tuple[str, ...]
    cmd: list[str]


def facts(instructions: list[Instruction]) -> Facts:
    env, users, user, workdir, exposed, cmd, base = {}, {}, "root", "/", [], [], ""
    for ins in instructions:
        if ins.keyword == "FROM":
            if base:
                raise ReplayError(f"line {ins.line}: multi-stage builds are not replayed")
            base = ins.value
        elif ins.keyword == "ENV":
            env.update(env_pairs(ins, env))
        elif ins.keyword == "RUN":
            check_run(ins)
            if made := created_user(ins):
                users[made.name] = made
        elif ins.keyword == "USER":
            user = expand(ins.value, env).split(":")[0]
        elif ins.keyword == "WORKDIR":
            workdir = os.path.join(workdir, expand(ins.value, env))
        elif ins.keyword == "EXPOSE":
            exposed += [p.split("/")[0] for p in expand(ins.value, env).split()]
        elif ins.keyword == "CMD":
            cmd = ins.words()
        elif ins.keyword not in KEYWORDS:
            raise ReplayError(f"line {ins.line}: {ins.keyword} is not replayed; teach tests/dockerfile_replay.py")
    return Facts(base, env, users, user, workdir, tuple(exposed), cmd)


def pip_installs(instructions: list[Instruction]) -> list[list[str]]:
    """The arguments of each `pip install` the RUNs make, in order, without the PyTorch index."""
    found = []
    for ins in instructions:
        if ins.keyword == "RUN":
            for words in commands(TORCH_CPU_INDEX.sub("", ins.value)):
                if words[:2] == ["pip", "install"]:
                    found.append(words[2:])
    return found


@dataclass(frozen=True)
class Step:
    line: int
    command: str
    seconds: float
    note: str = ""


@dataclass
class Replayed:
    """The replayed image: its folder, virtualenv, environment and the steps it took."""
    root: Path
    venv: Path
    facts: Facts
    steps: list[Step] = field(default_factory=list)

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def home(self, user: str, env: dict[str, str]) -> Path | None:
        if "HOME" in env:
            return self.path(env["HOME"])
        return self.path(self.facts.users[user].home) if user in self.facts.users else None

    def environment(self, user: str, env: dict[str, str]) -> dict[str, str]:
        """This machine's environment under the image's, the virtualenv first on PATH. Steps run as
        root keep this machine's HOME, so pip keeps its configuration (the stand-in for the network)."""
        merged = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        merged.update(env)
        home = self.home(user, env)
        if home is not None:
            merged["HOME"] = str(home)
        merged["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{merged.get('PATH', os.defpath)}"
        merged["VIRTUAL_ENV"] = str(self.venv)
        return merged


def replay(instructions: list[Instruction], *, context: Path, out: Path, log=print) -> Replayed:
    """Build the image's stand-in under `out` (root/, venv/, steps/); raises ReplayError on a failing step."""
    out.mkdir(parents=True, exist_ok=True)
    image = Replayed(out / "root", out / "venv", facts(instructions))
    image.root.mkdir()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(image.venv)], check=True)
    image.steps.append(Step(0, f"{sys.executable} -m venv {image.venv}", time.perf_counter() - started))
    log(f"[{image.steps[-1].seconds:6.1f} s] {image.steps[-1].command}")
    ignored = dockerignore(context)
    env, user, workdir = {}, "root", "/"
    for ins in instructions:
        started, note = time.perf_counter(), ""
        if ins.keyword == "ENV":
            env.update(env_pairs(ins, env))
        elif ins.keyword == "USER":
            user = expand(ins.value, env).split(":")[0]
        elif ins.keyword == "WORKDIR":
            workdir = os.path.join(workdir, expand(ins.value, env))
            image.path(workdir).mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "COPY":
            copy(ins, expand(ins.value, env), context, image.path(workdir), image.root, ignored)
        elif ins.keyword == "RUN":
            made = created_user(ins)
            if made:
                image.path(made.home).mkdir(parents=True, exist_ok=True)
                note = f"read, not run: user {made.name} (uid {made.uid}), home {made.home} made in the replay's root"
            else:
                note = run(ins, image.environment(user, env), image.path(workdir), out / "steps")
        else:
            continue
        image.steps.append(Step(ins.line, f"{ins.keyword} {ins.value}", time.perf_counter() - started, note))
        log(f"[{image.steps[-1].seconds:6.1f} s] line {ins.line}: {ins.keyword} {ins.value[:100]}"
            + (f"\n           ({note})" if note else ""))
    return image


def check_run(ins: Instruction) -> None:
    """Before anything is installed, so such a Dockerfile fails at once."""
    if ins.value.startswith("--"):
        raise ReplayError(f"line {ins.line}: RUN flags ({ins.value.split()[0]}) are not replayed")
    if created_user(ins) is None and any(c[0] in SYSTEM_COMMANDS for c in commands(ins.value)):
        raise ReplayError(f"line {ins.line}: `RUN {ins.value}` would change this machine, not an image; "
                          "the replay does not run it")


def run(ins: Instruction, env: dict[str, str], cwd: Path, logs: Path) -> str:
    command = TORCH_CPU_INDEX.sub("", ins.value)
    note = TORCH_REWRITE_NOTE if command != ins.value else ""
    logs.mkdir(exist_ok=True)
    log_file = logs / f"line-{ins.line:03d}.log"
    with open(log_file, "w") as output:  # a file, not a pipe: pip's output would fill a pipe and stall it
        code = subprocess.run(Instruction(ins.keyword, command, ins.line).words(), cwd=cwd, env=env,
                              stdout=output, stderr=subprocess.STDOUT).returncode
    if code:
        tail = "\n".join(log_file.read_text(errors="replace").strip().splitlines()[-15:])
        raise ReplayError(f"line {ins.line}: `RUN {ins.value}` failed with exit code {code}:\n{tail}")
    return note


def dockerignore(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return []
    patterns = [ln.strip().strip("/") for ln in ignore.read_text().splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    if any(p.startswith("!") for p in patterns):
        raise ReplayError(".dockerignore: exceptions (!) are not replayed")
    return patterns


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """A path is left out when it or a folder above it matches (`**/` matches any depth, none too)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch(prefix, p) or (p.startswith("**/") and fnmatch(prefix, p[3:]))
               for p in patterns for prefix in prefixes)


def copy(ins: Instruction, value: str, context: Path, workdir: Path, root: Path, ignored: list[str]) -> None:
    words = json.loads(value) if value.startswith("[") else shlex.split(value)
    flags = [w for w in words if w.startswith("--")]  # --chown: every file here is this machine's user's
    if any(f.startswith("--from") for f in flags):
        raise ReplayError(f"line {ins.line}: COPY --from is not replayed")
    *sources, dest = [w for w in words if not w.startswith("--")]
    target = root / dest.lstrip("/") if dest.startswith("/") else workdir / dest
    into_folder = dest.endswith("/") or len(sources) > 1 or target.is_dir()
    for source in sources:
        src = context / source
        if not src.exists() or is_ignored(os.path.normpath(source), ignored):
            raise ReplayError(f"line {ins.line}: COPY {source}: no such file in the build context")
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True, ignore=lambda folder, names: [
                n for n in names if is_ignored(str((Path(folder) / n).relative_to(context)), ignored)])
        else:
            place = target / src.name if into_folder else target
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, place)


def size_on_disk(path: Path) -> int:
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
               .stdout.split()[0]) * 1024
