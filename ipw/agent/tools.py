"""The built-in agent's tools: their OpenAI ``tools`` schemas, and running one call.

``python``       runs code in the sandbox with the task's workspace as its working folder
                 (see :mod:`ipw.agent.sandboxed`); output is stdout then stderr
``read_file``    a file of the workspace, as text
``write_file``   writes a file of the workspace (folders made as needed)
``calculator``   arithmetic on numbers: + - * / // % **, parentheses, and a few functions
                 (sqrt, abs, round, min, max, floor, ceil, log, exp, sin, cos, tan) and pi, e;
                 evaluated over the ``ast``, never ``eval``

A call never raises for what the model did: bad JSON arguments, an unknown
tool, a path outside the workspace or a program that fails each become a
:class:`ToolResult` with ``ok=False`` and an error the model reads back.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import operator
import time
from dataclasses import dataclass
from typing import Any, Callable

from .sandboxed import SandboxUnavailable, run_in_workspace
from .workspace import PathRefused, Workspace

__all__ = ["TOOL_SCHEMAS", "ToolResult", "run_tool", "calculate", "MAX_OUTPUT_CHARS"]

MAX_OUTPUT_CHARS = 8000  # what the model reads back of one tool's output
MAX_EXPRESSION_CHARS = 1000


def _schema(name: str, description: str, **props: str) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {k: {"type": "string", "description": v} for k, v in props.items()},
                       "required": list(props)}}}


TOOL_SCHEMAS = [
    _schema("python", "Run a Python program with the task's workspace as its working folder; returns its output.",
            code="the program's source"),
    _schema("read_file", "Read a text file of the workspace.", path="the file's name inside the workspace"),
    _schema("write_file", "Write a text file of the workspace (replacing it).", path="the file's name inside the "
            "workspace", content="the file's whole text"),
    _schema("calculator", "Evaluate an arithmetic expression, e.g. (2 + 3) * sqrt(16).",
            expression="the expression"),
]


@dataclass(frozen=True)
class ToolResult:
    """What one tool call gave back: its output for the model, or the error it met; its CPU seconds."""

    ok: bool
    output: str = ""
    error: str = ""
    cpu_s: float | None = None

    def for_model(self) -> str:
        text = self.output if self.ok else f"error: {self.error}" + (f"\n{self.output}" if self.output else "")
        return _clip(text)


def _clip(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"\n[... {len(text) - MAX_OUTPUT_CHARS} more characters cut]"


# -- calculator -------------------------------------------------------------------------------------
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max, "floor": math.floor, "ceil": math.ceil,
    "log": math.log, "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_INT_BITS = 4096  # no result, and no operand of **, grows past this: 9**9**9 is refused, not computed


def calculate(expression: str) -> int | float:
    """The value of an arithmetic expression; ``ValueError`` says why one is refused."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"not an expression: {exc.msg if isinstance(exc, SyntaxError) else exc}") from None
    return _value(tree.body)


def _checked(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("only numbers are allowed")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ValueError("the number is too large")
    return value


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return _checked(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_value(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(left, int) and isinstance(right, int) \
                and abs(right) * max(1, abs(left).bit_length()) > _MAX_INT_BITS:
            raise ValueError("the power is too large")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except (ArithmeticError, ValueError) as exc:
            raise ValueError(str(exc) or type(exc).__name__) from None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS \
            and not node.keywords and len(node.args) <= 8:
        args = [_value(a) for a in node.args]
        try:
            return _checked(_FUNCTIONS[node.func.id](*args))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise ValueError(f"{node.func.id}: {exc}") from None
    raise ValueError(f"{ast.unparse(node)[:80]!r} is not allowed (numbers, + - * / // % **, and "
                     f"{', '.join(sorted(_FUNCTIONS))}, pi, e)")


# -- dispatch ---------------------------------------------------------------------------------------
def _arguments(raw: str) -> dict[str, Any]:
    try:
        args = json.loads(raw or "{}")
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the arguments are not JSON: {exc}") from None
    if not isinstance(args, dict):
        raise ValueError("the arguments are not a JSON object")
    return args


def _text(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise ValueError(f"argument {name!r} (a string) is missing")
    return value


def run_tool(name: str, raw_arguments: str, workspace: Workspace, *, wall_s: float) -> ToolResult:
    """Run tool ``name`` with the model's JSON arguments over ``workspace`` (a program at most ``wall_s``).

    ``cpu_s`` is the CPU time of what ran the tool: the sandboxed process for
    ``python``; for the tools that run inside ipw, this thread's CPU time
    while it ran (measured, so a file write costs what it cost, not zero).
    """
    started_cpu_s = time.thread_time()
    result = _run(name, raw_arguments, workspace, wall_s)
    if result.cpu_s is None and name != "python":
        return dataclasses.replace(result, cpu_s=round(time.thread_time() - started_cpu_s, 6))
    return result


def _run(name: str, raw_arguments: str, workspace: Workspace, wall_s: float) -> ToolResult:
    try:
        args = _arguments(raw_arguments)
        if name == "python":
            run = run_in_workspace(workspace, program=_text(args, "code"), wall_s=wall_s)
            output = run.stdout + (("\n" if run.stdout and run.stderr else "") + run.stderr if run.stderr else "")
            if run.workspace_note and run.ok:
                return ToolResult(False, output, run.workspace_note, run.cpu_s)
            if run.ok:
                return ToolResult(True, output, "", run.cpu_s)
            why = f"stopped: {run.reason}" if run.reason else f"exit status {run.returncode}"
            return ToolResult(False, output, why, run.cpu_s)
        if name == "read_file":
            return ToolResult(True, workspace.read_text(_text(args, "path")))
        if name == "write_file":
            written = workspace.write_text(_text(args, "path"), _text(args, "content"))
            return ToolResult(True, f"wrote {written} bytes")
        if name == "calculator":
            return ToolResult(True, repr(calculate(_text(args, "expression"))))
        return ToolResult(False, "", f"there is no tool {name!r}; the tools are python, read_file, write_file, "
                          "calculator")
    except (ValueError, PathRefused, SandboxUnavailable, OSError) as exc:
        return ToolResult(False, "", str(exc) or type(exc).__name__)
