"""Fixed sets of files served under a prefix: the dashboard's and Swagger UI's.

The files are listed once, when the application is built; a request names one
of them or gets a 404. No request path ever reaches the file system, so
``..``, a name too long for it, or a NUL cannot make it fail or leave the
directory (aiohttp's directory-serving ``add_static`` turns a name over 255
bytes into a 500).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

#: route parameter name of the file's path below the prefix
FILE = "file"


def add_files(app: web.Application, prefix: str, directory: Path) -> None:
    """Serve every file below ``directory`` at ``prefix/{file}`` (the name ``PUBLIC_ROUTES`` knows it by)."""
    files = {path.relative_to(directory).as_posix(): path for path in sorted(directory.rglob("*")) if path.is_file()}

    async def serve_file(request: web.Request) -> web.FileResponse:
        path = files.get(request.match_info[FILE])
        if path is None:
            raise web.HTTPNotFound(text=f"no such file: {prefix}/{request.match_info[FILE][:200]}")
        return web.FileResponse(path)

    app.router.add_get(f"{prefix}/{{{FILE}:.+}}", serve_file)
