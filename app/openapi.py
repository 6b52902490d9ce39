"""The OpenAPI 3 description of /api (served at /api/openapi.json; a test checks that it
lists exactly the routes the app has)."""
from __future__ import annotations

from typing import Any

from app.services.clips import CLIP_KINDS, MAX_SHIFT_MS
from app.services.mapdoc import MAP_VERSION, MAX_SEGMENTS
from app.services.types import GAP_FILLS, MODES
from app.batches import COUNTED, MAX_NAME, MAX_PAIRS
from app.submit import MAX_CUSTOM_NAME

ERR = {"$ref": "#/components/responses/Error"}
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
BATCH_ID = {"name": "batch_id", "in": "path", "required": True,
            "schema": {"type": "string"}}
POINT_ID = {"name": "point_id", "in": "path", "required": True,
            "schema": {"type": "string"}, "description": "p1, p2... (GET .../points)"}
TRACK = {"name": "track", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                    "default": 0},
         "description": "which dub: 0 = the first dub written"}
UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}


def _json(schema_ref: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/"
                                                                f"{schema_ref}"}}}}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    errs = {code: ERR for code in extra.pop("errors", ())}
    return {"summary": summary, "responses": {**responses, **errs}, **extra}


#: Longest path accepted (Linux PATH_MAX); longer ones are refused with 400.
PATH_MAX = 4096
MEDIA_PATH = {"type": "string", "maxLength": PATH_MAX,
              "description": "relative to MEDIA_SOURCE_PATH; no NUL character"}

OPTIONS_PROPS = {
    "custom_name": {"type": "string", "maxLength": MAX_CUSTOM_NAME,
                    "description": "output file name (without .mkv); default: the "
                                   "original's name"},
    "mode": {"type": "string", "enum": list(MODES)},
    "gap_fill": {"type": "string", "enum": list(GAP_FILLS),
                 "description": "what plays where the dub lacks a scene"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message"],
              "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                             "offset": {"type": "integer",
                                        "description": "uploads: bytes received so far"}}},
    "Accepted": {"type": "object", "required": ["task_id", "status"],
                 "properties": {"task_id": {"type": "string"}, "status": {"type": "string"},
                                "status_url": {"type": "string"}}},
    "Task": {"type": "object", "properties": {
        "task_id": {"type": "string"},
        "status": {"type": "string",
                   "enum": ["queued", "processing", "completed", "failed", "cancelled"]},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "stage": {"type": "string"}, "message": {"type": "string"},
        "error": {"type": "string", "nullable": True},
        "error_code": {"type": "string", "nullable": True},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "original_name": {"type": "string"}, "dubbed_name": {"type": "string"},
        "dubbed_names": {"type": "array", "items": {"type": "string"},
                         "description": "every dub of the task, the first one first"},
        "batch_id": {"type": "string", "nullable": True,
                     "description": "the season batch this task is an episode of"},
        "episode": {"type": "string", "description": "its episode label, e.g. S01E02"},
        "batch_url": {"type": "string", "nullable": True},
        "warnings": {"type": "array", "items": {"type": "string"},
                     "description": "a completed task of several dubs: one line per dub "
                                    "that was not written (completed with warnings)"},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "nullable": True},
        "finished_at": {"type": "string", "nullable": True},
        "result": {"type": "object", "nullable": True, "properties": {
            "output": {"type": "string"}, "confidence": {"type": "number"},
            "speed": {"type": "number"}, "map": {"type": "object"},
            "download_url": {"type": "string"}, "report_url": {"type": "string"},
            "picture_url": {"type": "string"}}},
        "version": {"type": "integer", "minimum": 0,
                    "description": "the output's version: 1 = the first sync's, each "
                                   "re-render of a corrected map adds one; 0 = none yet"},
        "versions": {"type": "array", "items": {"type": "object", "properties": {
            "version": {"type": "integer"},
            "map_source": {"type": "string", "enum": ["analysed", "given"]},
            "created_at": {"type": "string"},
            "seconds": {"type": "number", "description": "how long its render took (the "
                                                         "first: the whole sync)"},
            "output": {"type": "string"}}}},
        "map_source": {"type": "string", "nullable": True, "enum": ["analysed", "given"]},
        "rerender": {"type": "boolean",
                     "description": "the current run renders a map given by hand"},
        "render_error": {"type": "string", "nullable": True,
                         "description": "the last re-render that failed or was cancelled "
                                        "(the previous version is kept)"},
        "correctable": {"type": "boolean",
                        "description": "PUT /api/tasks/{task_id}/map is possible now"},
        "correct_blocked": {"type": "string", "nullable": True,
                            "description": "why not, and what to do"},
        "map_url": {"type": "string"}}},
    "TaskList": {"type": "object", "properties": {
        "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "Upload": {"type": "object", "properties": {
        "upload_id": {"type": "string"}, "filename": {"type": "string"},
        "size": {"type": "integer"}, "offset": {"type": "integer"},
        "complete": {"type": "boolean"}, "created_at": {"type": "number"},
        "chunk_size": {"type": "integer"}}},
    "Listing": {"type": "object", "properties": {
        "path": {"type": "string"}, "parent": {"type": "string", "nullable": True},
        "breadcrumbs": {"type": "array", "items": {"type": "object"}},
        "entries": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "path": {"type": "string"},
            "type": {"type": "string", "enum": ["directory", "video"]},
            "size": {"type": "integer", "nullable": True},
            "items": {"type": "integer", "nullable": True},
            "videos": {"type": "integer", "nullable": True}}}}}},
    "Object": {"type": "object"},
    # The engine's report (app.services.types.SyncReport.to_dict): the keys every report
    # has; `render` only once a file is written, `speech_probe` only when the speech probe
    # refused the pair (its `map` is then null).
    "SyncReport": {"type": "object", "required": ["confidence", "reasons"], "properties": {
        "version": {"type": "integer"},
        "original": {"type": "string"}, "dub": {"type": "string"},
        "mode": {"type": "string", "nullable": True},
        "gap_fill": {"type": "string", "nullable": True},
        "speed": {"type": "number", "nullable": True,
                  "description": "original seconds per dub second"},
        "speed_hint": {"type": "number", "nullable": True,
                       "description": "the frame rates' ratio (dub fps / original fps)"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reasons": {"type": "array", "items": {"type": "string"},
                    "description": "reasons not to trust the map; empty: trust it"},
        "map": {"type": "object", "nullable": True},
        "segments": {"type": "array", "items": {"type": "object", "properties": {
            name: {"type": "number"} for name in (
                "dub_start", "dub_end", "orig_start", "orig_end", "speed", "offset",
                "confidence", "anchors")}},
            "description": "seconds; offset = orig_start - speed * dub_start"},
        "cuts": {"type": "array", "items": {"$ref": "#/components/schemas/Interval"},
                 "description": "original time the dub lacks, [start, end) s"},
        "inserts": {"type": "array", "items": {"$ref": "#/components/schemas/Interval"},
                    "description": "dub time with no counterpart (dropped), [start, end) s"},
        "anchors": {"type": "array", "items": {"type": "object", "properties": {
            "dub_t": {"type": "number"}, "orig_t": {"type": "number"},
            "score": {"type": "number"}, "source": {"type": "string"}}}},
        "anchor_count": {"type": "integer"},
        "languages": {"type": "object", "properties": {
            "original": {"type": "string", "nullable": True},
            "dub": {"type": "string", "nullable": True}}},
        "phrase_pairs": {"type": "array", "items": {"type": "object"}},
        "speech": {"type": "object", "nullable": True},
        "evidence": {"type": "object", "nullable": True},
        "diagnostics": {"type": "object"},
        "streams": {"type": "object", "nullable": True},
        "output": {"type": "string", "nullable": True},
        "timings": {"type": "object", "additionalProperties": {"type": "number"},
                    "description": "wall seconds per stage"},
        "render": {"type": "object", "properties": {"reencoded": {"type": "boolean"},
                                                    "codec": {"type": "string"}}},
        "speech_probe": {"type": "object"},
        "subtitles": {"type": "array", "nullable": True, "items": {
            "type": "object", "properties": {
                "source": {"type": "string"}, "origin": {"type": "string"},
                "format": {"type": "string"}, "language": {"type": "string"},
                "forced": {"type": "boolean"}, "hearing_impaired": {"type": "boolean"},
                "kept": {"type": "integer"}, "moved": {"type": "integer"},
                "clipped": {"type": "integer"}, "dropped": {"type": "integer"},
                "error": {"type": "string", "nullable": True}}},
            "description": "the dub's subtitle files re-timed into the MKV (written files "
                           "with subtitles only); error: why one was skipped"},
        "map_source": {"type": "string", "enum": ["given"],
                       "description": "present when the map was given (sync --map), "
                                      "not found by the engine"},
        "dubs": {"type": "array", "nullable": True, "items": {
            "type": "object", "properties": {
                "dub": {"type": "string"}, "language": {"type": "string", "nullable": True},
                "accepted": {"type": "boolean"}, "confidence": {"type": "number"},
                "speed": {"type": "number", "nullable": True},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "error": {"type": "string", "nullable": True},
                "error_code": {"type": "string", "nullable": True},
                "report": {"type": "object", "nullable": True}}},
            "description": "a task of several dubs: each dub's outcome in order (the dub "
                           "this report is about has report null)"}}},
    "ListenPoints": {"type": "object", "required": ["points", "duration", "tracks"],
                     "properties": {
        "points": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "t": {"type": "number",
                                            "description": "s on the original's timeline"},
            "kind": {"type": "string", "enum": ["cut", "insert", "edge", "inside"]},
            "label": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "detail": {"type": "object"},
            "clip": {"type": "object", "properties": {"start": {"type": "number"},
                                                      "duration": {"type": "number"}}}}}},
        "duration": {"type": "number", "description": "the MKV's length, s"},
        "track": {"type": "integer"}, "clip_seconds": {"type": "number"},
        "kinds": {"type": "array", "items": {"type": "string"}},
        "tracks": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "language": {"type": "string", "nullable": True},
            "title": {"type": "string", "nullable": True}}}}}},
    "MapDocument": {"type": "object", "description": (
        "A time map (format version %d; the README's 'The map as a document'): what "
        "analyze --json prints, the whole report or its `map` alone. The map's segments "
        "(at most %d, in dub order, overlapping on neither timeline) each have dub_start, "
        "dub_end, speed and orig_start (or offset); orig_end and offset, when present, "
        "must agree with them." % (MAP_VERSION, MAX_SEGMENTS)), "properties": {
        "version": {"type": "integer", "enum": [MAP_VERSION]},
        "map": {"type": "object", "properties": {
            "speed": {"type": "number"}, "confidence": {"type": "number"},
            "segments": {"type": "array", "items": {"type": "object", "properties": {
                k: {"type": "number"} for k in ("dub_start", "dub_end", "orig_start",
                                                 "orig_end", "offset", "speed",
                                                 "confidence", "anchors")}}}}},
        "segments": {"type": "array", "description": "the map alone: its segments"}}},
    "TaskMap": {"allOf": [{"$ref": "#/components/schemas/MapDocument"}, {
        "type": "object", "properties": {
            "source": {"type": "string", "enum": ["analysed", "given", "refused"]},
            "task_id": {"type": "string"},
            "render_version": {"type": "integer"}}}]},
    "Interval": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    # Season batches (app/batches.py, app/api_batches.py); paths relative to the media folder.
    "Leftovers": {"type": "object", "properties": {
        "unpaired_originals": {"type": "array", "items": {"$ref": "#/components/schemas/"
                                                                   "Unpaired"}},
        "unpaired_dubs": {"type": "array", "items": {"$ref": "#/components/schemas/"
                                                              "Unpaired"}},
        "ambiguous": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"},
            "candidates": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"}}}}}},
    "Unpaired": {"type": "object", "properties": {"path": {"type": "string"},
                                                  "reason": {"type": "string"}}},
    "Pairing": {"allOf": [{"$ref": "#/components/schemas/Leftovers"}, {
        "type": "object", "required": ["pairs"], "properties": {
            "pairs": {"type": "array", "items": {"type": "object", "properties": {
                "original_path": {"type": "string"}, "dubbed_path": {"type": "string"},
                "episode": {"type": "string", "description": "S01E02, or the original's "
                                                             "name when it has no number"},
                "how": {"type": "string", "enum": ["name", "duration", "manual"]},
                "reason": {"type": "string"}}}},
            "originals": {"type": "string"}, "dubs": {"type": "string"},
            "name": {"type": "string", "description": "the batch's default name"},
            "files": {"type": "object", "properties": {
                "originals": {"type": "integer"}, "dubs": {"type": "integer"}}}}}]},
    "BatchCounts": {"type": "object", "properties": {
        k: {"type": "integer"} for k in COUNTED}},
    "BatchStatus": {"type": "string", "enum": [
        "processing", "completed", "completed_with_refusals", "failed", "cancelled"],
        "description": "processing while an episode is queued or processing; completed_with"
                       "_refusals: every episode not completed was refused (not the same "
                       "episode)"},
    "Episode": {"type": "object", "properties": {
        "episode": {"type": "string"}, "task_id": {"type": "string"},
        "original_name": {"type": "string"}, "dubbed_name": {"type": "string"},
        "status": {"type": "string",
                   "enum": ["queued", "processing", "completed", "failed", "cancelled"]},
        "refused": {"type": "boolean"},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "stage": {"type": "string"}, "message": {"type": "string"},
        "confidence": {"type": "number", "nullable": True},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string", "nullable": True},
        "error_code": {"type": "string", "nullable": True},
        "output_name": {"type": "string", "nullable": True},
        "download_url": {"type": "string", "nullable": True},
        "task_url": {"type": "string"}}},
    "Batch": {"allOf": [{"$ref": "#/components/schemas/Leftovers"}, {
        "type": "object", "required": ["id", "status", "episodes"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "originals": {"type": "string"}, "dubs": {"type": "string"},
            "output_folder": {"type": "string", "description": "under OUTPUT_DIR"},
            "mode": {"type": "string", "nullable": True},
            "gap_fill": {"type": "string", "nullable": True},
            "status": {"$ref": "#/components/schemas/BatchStatus"},
            "done": {"type": "boolean"},
            "counts": {"$ref": "#/components/schemas/BatchCounts"},
            "episodes": {"type": "array", "items": {"$ref": "#/components/schemas/"
                                                            "Episode"}}}}]},
    "BatchList": {"type": "object", "properties": {"batches": {"type": "array", "items": {
        "type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "originals": {"type": "string"}, "dubs": {"type": "string"},
            "status": {"$ref": "#/components/schemas/BatchStatus"},
            "done": {"type": "boolean"},
            "counts": {"$ref": "#/components/schemas/BatchCounts"},
            "episodes": {"type": "integer", "description": "how many"},
            "url": {"type": "string"}}}}}},
}


SYNC_BODY = {"type": "object", "properties": {
    "original_path": MEDIA_PATH, "dubbed_path": MEDIA_PATH,
    "dubbed_paths": {"type": "array", "items": MEDIA_PATH, "maxItems": 8,
                     "description": "several dubs onto the one original (instead of "
                                    "dubbed_path): each its own track, map and refusal"},
    "original_upload": {"type": "string", "description": "upload_id"},
    "dubbed_upload": {"type": "string"},
    "dubbed_uploads": {"type": "array", "items": {"type": "string"}, "maxItems": 8,
                       "description": "several dubs (upload_ids) instead of dubbed_upload"},
    **OPTIONS_PROPS}}


BATCH_BODY = {"type": "object", "properties": {
    "originals": {**MEDIA_PATH, "description": "the originals' folder, relative to "
                                               "MEDIA_SOURCE_PATH"},
    "dubs": {**MEDIA_PATH, "description": "the dubs' folder"},
    "pairs": {"type": "array", "maxItems": MAX_PAIRS,
              "description": "pairs given by hand (the folders are then optional)",
              "items": {"type": "object", "required": ["original_path", "dubbed_path"],
                        "properties": {"original_path": MEDIA_PATH,
                                       "dubbed_path": MEDIA_PATH}}},
    "dry_run": {"type": "boolean", "description": "only list the pairing (200)"},
    "name": {"type": "string", "maxLength": MAX_NAME, "nullable": True,
             "description": "default: the originals folder's name; also the output "
                            "folder's under OUTPUT_DIR"},
    "mode": {**OPTIONS_PROPS["mode"], "nullable": True},
    "gap_fill": {**OPTIONS_PROPS["gap_fill"], "nullable": True}}}


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/upload": {"post": _op(
            "Upload two files (multipart) and start a sync",
            {"202": _json("Accepted", "queued")}, errors=("400", "401", "413"),
            requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["original_video", "dubbed_video"],
                "properties": {"original_video": {"type": "string", "format": "binary"},
                               "dubbed_video": {
                                   "type": "string", "format": "binary",
                                   "description": "repeat the field for several dubs "
                                                  "onto the one original (at most 8)"},
                               **OPTIONS_PROPS}}}}})},
        "/api/sync": {"post": _op(
            "Start a sync from the media folder or from finished chunked uploads",
            {"202": _json("Accepted", "queued")}, errors=("400", "401", "403", "404"),
            requestBody={"required": True, "content": {
                kind: {"schema": SYNC_BODY}
                for kind in ("application/json", "application/x-www-form-urlencoded")}})},
        "/api/uploads": {"post": _op(
            "Create a resumable upload", {"201": _json("Upload", "created")},
            errors=("400", "401", "507"),
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["filename", "size"],
                "properties": {"filename": {"type": "string"},
                               "size": {"type": "integer"}}}}}})},
        "/api/uploads/{upload_id}": {
            "parameters": [UPLOAD_ID],
            "get": _op("What has arrived (offset)", {"200": _json("Upload")},
                       errors=("401", "404")),
            "put": _op("Send bytes START-END (Content-Range: bytes START-END/TOTAL); START "
                       "must not exceed the offset", {"200": _json("Upload")},
                       errors=("400", "401", "404", "409"),
                       parameters=[{"name": "Content-Range", "in": "header", "required": True,
                                    "schema": {"type": "string"}}],
                       requestBody={"required": True, "content": {
                           "application/octet-stream": {"schema": {"type": "string",
                                                                   "format": "binary"}}}}),
            "delete": _op("Abandon an upload", {"204": {"description": "removed"}},
                          errors=("401", "404"))},
        "/api/uploads/{upload_id}/finish": {"parameters": [UPLOAD_ID], "post": _op(
            "Mark an upload complete (all bytes arrived)", {"200": _json("Upload")},
            errors=("401", "404", "409"))},
        "/api/status/{task_id}": {"parameters": [TASK_ID], "get": _op(
            "A task's status, progress and result", {"200": _json("Task")},
            errors=("401", "404"))},
        "/api/tasks": {"get": _op(
            "All tasks, newest first", {"200": _json("TaskList")}, errors=("400", "401"),
            parameters=[{"name": "limit", "in": "query", "schema": {"type": "integer"}}])},
        "/api/tasks/{task_id}": {"parameters": [TASK_ID], "delete": _op(
            "Cancel a queued/running task, or remove a finished one",
            {"200": _json("Object", "removed"), "202": _json("Object", "cancelling")},
            errors=("400", "401", "404"),
            parameters=[{"name": "delete_output", "in": "query",
                         "schema": {"type": "boolean"}}])},
        "/api/tasks/{task_id}/retry": {"parameters": [TASK_ID], "post": _op(
            "Run a failed or cancelled task again", {"202": _json("Accepted", "queued")},
            errors=("400", "401", "404"))},
        "/api/download/{task_id}": {"parameters": [TASK_ID], "get": _op(
            "The synced MKV (Range requests supported)",
            {"200": {"description": "the file", "content": {"video/x-matroska": {}}},
             "206": {"description": "partial content"},
             "304": {"description": "not modified"},
             "416": {"description": "range not satisfiable"}},
            errors=("400", "401", "404"))},
        "/api/report/{task_id}": {"parameters": [TASK_ID], "get": _op(
            "The engine's report (map, anchors, confidence, timings)",
            {"200": _json("SyncReport")}, errors=("401", "404"))},
        "/api/report/{task_id}/offset.svg": {"parameters": [TASK_ID], "get": _op(
            "Picture of the offset over time with anchors, cuts and inserts",
            {"200": {"description": "SVG", "content": {"image/svg+xml": {}}}},
            errors=("400", "401", "404"),
            parameters=[{"name": "lang", "in": "query", "schema": {"type": "string"},
                         "description": "en or es (default: the browser's language)"}])},
        # Listening at the map's edges (app/services/clips.py)
        "/api/tasks/{task_id}/points": {"parameters": [TASK_ID], "get": _op(
            "A completed task's listening points: each cut, insert and edge of the map "
            "and a few inside long segments, with their confidence and clip windows",
            {"200": _json("ListenPoints")}, errors=("400", "401", "404", "409"),
            parameters=[TRACK])},
        "/api/tasks/{task_id}/clips/{point_id}": {"parameters": [TASK_ID, POINT_ID], "get": _op(
            "About 8 s of the MKV centred on a listening point (Opus in Ogg, or AAC in "
            "MP4 without libopus); made on demand and cached; Range requests supported",
            {"200": {"description": "the clip", "content": {"audio/ogg": {}, "audio/mp4": {}}},
             "206": {"description": "partial content"},
             "304": {"description": "not modified"},
             "416": {"description": "range not satisfiable"}},
            errors=("400", "401", "404", "409"),
            parameters=[{"name": "kind", "in": "query", "schema": {
                "type": "string", "enum": list(CLIP_KINDS), "default": "both"},
                "description": "original; dub (as placed); both: the original (mono) in "
                               "the left ear, the dub in the right; mix"}, TRACK,
                {"name": "shift_ms", "in": "query", "schema": {
                    "type": "integer", "minimum": -MAX_SHIFT_MS, "maximum": MAX_SHIFT_MS,
                    "default": 0},
                 "description": "a preview of the dub this many ms later than written "
                                "(a nudge of its segment's offset, before it is applied)"}])},
        # The map as a document, corrected and rendered again (app/jobs.py: rerender)
        "/api/tasks/{task_id}/map": {
            "parameters": [TASK_ID],
            "get": _op("The task's current map as a map document (a refused task: its best "
                       "map, source refused)", {"200": _json("TaskMap")},
                       errors=("401", "404")),
            "put": _op("Render the task again from this map (no analysis) as a new "
                       "version of its MKV; the previous one stays until the new one is "
                       "complete. A map given by hand is never refused for its confidence",
                       {"202": _json("Accepted", "queued")},
                       errors=("400", "401", "404", "409"),
                       requestBody={"required": True, "content": {"application/json": {
                           "schema": {"$ref": "#/components/schemas/MapDocument"}}}})},
        "/api/media/status": {"get": _op("Is the media folder enabled and mounted?",
                                         {"200": _json("Object")}, errors=("401",))},
        "/api/media/list": {"get": _op(
            "Folders and videos in the media folder", {"200": _json("Listing")},
            errors=("400", "401", "403", "404"),
            parameters=[{"name": "path", "in": "query", "schema": MEDIA_PATH}])},
        "/api/health": {"get": _op(
            "Health (ffmpeg, models, disk, runner); no key needed",
            {"200": _json("Object"), "503": _json("Object", "not working")})},
        "/api/system-info": {"get": _op("CPU, memory, disks, GPU, models, versions",
                                        {"200": _json("Object")}, errors=("401",))},
        "/api/openapi.json": {"get": _op("This document", {"200": _json("Object")})},
        "/api/batches": {
            "post": _op(
                "Pair a season's folders (or take pairs) and start one task per episode; "
                "dry_run: only the pairing", {"200": _json("Pairing", "the dry run"),
                                              "202": _json("Batch", "queued")},
                errors=("400", "401", "403", "404"),
                requestBody={"required": True, "content": {"application/json": {
                    "schema": BATCH_BODY}}}),
            "get": _op("All batches, newest first", {"200": _json("BatchList")},
                       errors=("401",))},
        "/api/batches/{batch_id}": {
            "parameters": [BATCH_ID],
            "get": _op("A batch: its status, counts and episodes", {"200": _json("Batch")},
                       errors=("401", "404")),
            "delete": _op("Forget a finished batch and its tasks' records (outputs kept)",
                          {"204": {"description": "removed"}}, errors=("401", "404", "409"))},
        "/api/batches/{batch_id}/retry": {"parameters": [BATCH_ID], "post": _op(
            "Queue every failed or cancelled episode again", {"202": _json("Batch", "queued")},
            errors=("400", "401", "404", "409"))},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "SyncDub API", "version": "1.0.0",
                 "description": "Put a dubbed audio track onto another release of the same "
                                "film. Errors are JSON {error, message}. When API_KEY is set, "
                                "send it in X-API-Key."},
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}},
            "schemas": SCHEMAS,
            "responses": {"Error": {"description": "error", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }
