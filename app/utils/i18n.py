"""Interface text in English and Spanish, chosen from the browser's Accept-Language
(a `lang` cookie, set by the language links, wins). Keys are shared by templates and JS."""
from __future__ import annotations

LANGUAGES = ("en", "es")
DEFAULT = "en"

STRINGS: dict[str, dict[str, str]] = {
    # navigation and shared
    "nav.home": {"en": "Home", "es": "Inicio"},
    "nav.upload": {"en": "New sync", "es": "Subir Videos"},
    "nav.tasks": {"en": "Tasks", "es": "Estado"},
    "nav.system": {"en": "System", "es": "Sistema"},
    "nav.logout": {"en": "Log out", "es": "Salir"},
    "footer": {"en": "SyncDub: puts a dubbed audio track onto another release, in sync",
               "es": "SyncDub: sincroniza un audio doblado con otra edición de la película"},
    "tagline": {"en": "Put a dubbed audio track onto another release of the same film, in sync.",
                "es": "Pon el audio doblado sobre otra edición de la misma película, "
                      "sincronizado."},
    # home
    "home.engine": {"en": "How it matches", "es": "Cómo sincroniza"},
    "home.engine_text": {"en": "The shared music and effects first; what is said (Whisper + "
                                 "multilingual meaning) where they differ.",
                         "es": "Primero la música y los efectos comunes; lo que se dice "
                               "(Whisper + significado multilingüe) donde difieren."},
    "home.system": {"en": "System status", "es": "Estado del sistema"},
    "home.media": {"en": "Media folder", "es": "Volumen de medios"},
    "home.features": {"en": "What it does", "es": "Características principales"},
    "home.f1": {"en": "Upload from your computer (resumable) or pick files on the server's "
                      "media folder.",
                "es": "Sube desde tu equipo (reanudable) o elige archivos del volumen de "
                      "medios del servidor."},
    "home.f2": {"en": "Handles other intros, PAL speed-up, cut scenes and commercial breaks.",
                "es": "Resuelve intros distintas, aceleración PAL, escenas cortadas y pausas "
                      "publicitarias."},
    "home.f3": {"en": "Says how sure it is, and refuses rather than write a wrong file.",
                "es": "Dice cuán seguro está, y se niega antes que escribir un archivo "
                      "erróneo."},
    "home.f4": {"en": "Original video and audio untouched; one MKV with the dub added.",
                "es": "Vídeo y audio originales intactos; un MKV con el doblaje añadido."},
    "home.start": {"en": "Start a sync", "es": "Comenzar sincronización"},
    "home.see_tasks": {"en": "See tasks", "es": "Ver estado"},
    # upload
    "up.title": {"en": "Sync two releases", "es": "Subir videos para sincronización"},
    "up.subtitle": {"en": "Choose the original and the dubbed release of the same film.",
                    "es": "Selecciona el video original y el doblado de la misma película."},
    "up.mode": {"en": "Where are the files?", "es": "Seleccionar modo de carga"},
    "up.local": {"en": "Upload from this computer", "es": "Subir archivos locales"},
    "up.nfs": {"en": "From the server's media folder", "es": "Desde servidor NFS"},
    "up.original": {"en": "Original video", "es": "Video original"},
    "up.original_help": {"en": "The release whose picture and audio you keep.",
                         "es": "La edición cuyo vídeo y audio se conservan."},
    "up.dubbed": {"en": "Dubbed video", "es": "Video doblado"},
    "up.dubbed_help": {"en": "The release with the dubbed audio.",
                       "es": "La edición con el audio doblado."},
    "up.name": {"en": "Output file name (optional)", "es": "Nombre del archivo de salida "
                                                          "(opcional)"},
    "up.name_ph": {"en": "e.g. my_film_synced", "es": "Ej: mi_pelicula_sincronizada"},
    "up.name_help": {"en": "Empty: the original's name.", "es": "Si no se especifica, se usa "
                                                              "el nombre del original."},
    "up.options": {"en": "Options", "es": "Opciones"},
    "up.match": {"en": "Matching", "es": "Método"},
    "up.match.auto": {"en": "Automatic (sound, then speech where needed)",
                      "es": "Automático (sonido, y voz donde haga falta)"},
    "up.match.audio": {"en": "Sound only (same music and effects)",
                       "es": "Solo sonido (misma música y efectos)"},
    "up.match.speech": {"en": "Speech (different music)", "es": "Voz (música distinta)"},
    "up.gap": {"en": "Scenes missing from the dub", "es": "Escenas que faltan en el doblaje"},
    "up.gap.silence": {"en": "Silence", "es": "Silencio"},
    "up.gap.original": {"en": "Original audio", "es": "Audio original"},
    "up.submit": {"en": "Sync", "es": "Sincronizar videos"},
    "up.submit_nfs": {"en": "Sync server files", "es": "Sincronizar videos del servidor"},
    "up.browser": {"en": "Server file browser", "es": "Navegador de archivos del servidor"},
    "up.parent": {"en": "Up", "es": "Subir nivel"},
    "up.refresh": {"en": "Refresh", "es": "Actualizar"},
    "up.enter": {"en": "Open", "es": "Entrar"},
    "up.selected": {"en": "Selected files", "es": "Archivos seleccionados"},
    "up.none": {"en": "nothing chosen", "es": "sin elegir"},
    "up.disabled": {"en": "The media folder is not enabled on this server "
                          "(MEDIA_SOURCE_ENABLED).",
                    "es": "El volumen de medios no está activado en este servidor "
                          "(MEDIA_SOURCE_ENABLED)."},
    # tasks
    "tasks.title": {"en": "Tasks", "es": "Estado de tareas"},
    "tasks.empty": {"en": "No tasks yet.", "es": "Aún no hay tareas."},
    "task.title": {"en": "Task", "es": "Tarea"},
    "task.cancel": {"en": "Cancel", "es": "Cancelar"},
    "task.retry": {"en": "Run again", "es": "Reintentar"},
    "task.delete": {"en": "Delete task", "es": "Borrar tarea"},
    "task.download": {"en": "Download MKV", "es": "Descargar MKV"},
    "task.languages": {"en": "Detected languages", "es": "Idiomas detectados"},
    "task.map": {"en": "Time map", "es": "Mapa temporal"},
    "task.pairs": {"en": "Matched phrases", "es": "Frases emparejadas"},
    "task.reasons": {"en": "Why", "es": "Motivos"},
    "task.picture": {"en": "Offset over time", "es": "Desfase a lo largo del tiempo"},
    "task.report_json": {"en": "Full report (JSON)", "es": "Informe completo (JSON)"},
    "task.details": {"en": "Details", "es": "Detalles"},
    "task.created": {"en": "Created", "es": "Creada"},
    "task.finished": {"en": "Finished", "es": "Terminada"},
    "task.not_found": {"en": "There is no such task.", "es": "No existe esa tarea."},
    # system
    "sys.title": {"en": "System", "es": "Sistema"},
    "sys.cpu": {"en": "CPU", "es": "CPU"},
    "sys.memory": {"en": "Memory", "es": "Memoria"},
    "sys.disk": {"en": "Disk space", "es": "Espacio en disco"},
    "sys.gpu": {"en": "GPU", "es": "GPU"},
    "sys.models": {"en": "Models", "es": "Modelos"},
    "sys.versions": {"en": "Versions", "es": "Versiones"},
    "sys.jobs": {"en": "Jobs", "es": "Trabajos"},
    "sys.health": {"en": "Health", "es": "Salud"},
    # the job queue (QUEUE_URL: Celery workers on Redis) or the embedded threads
    "sys.queue": {"en": "Job queue", "es": "Cola de trabajos"},
    "sys.embedded": {"en": "embedded (threads)", "es": "integrada (hilos)"},
    "sys.queue_length": {"en": "waiting in the queue", "es": "en espera en la cola"},
    "sys.workers": {"en": "Workers", "es": "Trabajadores"},
    "sys.no_workers": {"en": "No worker seen yet: start one with ./start.sh worker.",
                       "es": "Aún no se ha visto ningún trabajador: inicia uno con "
                             "./start.sh worker."},
    "sys.worker_host": {"en": "Host", "es": "Equipo"},
    "sys.concurrency": {"en": "At once", "es": "A la vez"},
    "sys.running": {"en": "Running", "es": "En curso"},
    "sys.last_seen": {"en": "Last heartbeat", "es": "Último latido"},
    "sys.seconds_ago": {"en": "s ago", "es": "s atrás"},
    "sys.lost": {"en": "lost", "es": "perdido"},
    "sys.idle": {"en": "idle", "es": "libre"},
    # season batches (pages: /batches, /batches/new, /batches/<id>)
    "nav.batches": {"en": "Season batch", "es": "Temporada"},
    "batch.new_title": {"en": "Sync a season", "es": "Sincronizar una temporada"},
    "batch.new_subtitle": {"en": "Choose the folder of original episodes and the folder of "
                                 "dubbed episodes on the server's media folder. SyncDub "
                                 "proposes which dub goes with which episode; you check it "
                                 "before anything runs.",
                           "es": "Elige la carpeta de episodios originales y la de episodios "
                                 "doblados en el volumen de medios del servidor. SyncDub "
                                 "propone qué doblaje va con cada episodio; lo revisas antes "
                                 "de que se ejecute nada."},
    "batch.folders": {"en": "1. The two folders", "es": "1. Las dos carpetas"},
    "batch.originals": {"en": "Originals folder", "es": "Carpeta de originales"},
    "batch.dubs": {"en": "Dubs folder", "es": "Carpeta de doblajes"},
    "batch.this_folder": {"en": "This folder", "es": "Esta carpeta"},
    "batch.name": {"en": "Batch name (optional)", "es": "Nombre del lote (opcional)"},
    "batch.name_ph": {"en": "e.g. Dark season 1", "es": "Ej: Dark temporada 1"},
    "batch.name_help": {"en": "Empty: the originals folder's name.",
                        "es": "Si no se especifica, el nombre de la carpeta de originales."},
    "batch.propose": {"en": "Propose pairing", "es": "Proponer emparejamiento"},
    "batch.proposal": {"en": "2. Check the pairing", "es": "2. Revisa el emparejamiento"},
    "batch.proposal_help": {"en": "Change a dubbed file with its list, or drop a row. Nothing "
                                  "runs until you press Start.",
                            "es": "Cambia un archivo doblado con su lista, o quita una fila. "
                                  "No se ejecuta nada hasta que pulses Iniciar."},
    "batch.col_episode": {"en": "Episode", "es": "Episodio"},
    "batch.col_original": {"en": "Original", "es": "Original"},
    "batch.col_dubbed": {"en": "Dubbed", "es": "Doblado"},
    "batch.col_how": {"en": "Paired by", "es": "Emparejado por"},
    "batch.col_actions": {"en": "Actions", "es": "Acciones"},
    "batch.col_status": {"en": "Status", "es": "Estado"},
    "batch.col_confidence": {"en": "Confidence", "es": "Confianza"},
    "batch.col_details": {"en": "Details", "es": "Detalles"},
    "batch.unpaired_originals": {"en": "Originals without a dub",
                                 "es": "Originales sin doblaje"},
    "batch.unpaired_dubs": {"en": "Dubs without an original",
                            "es": "Doblajes sin original"},
    "batch.ambiguous": {"en": "Ambiguous: not paired, choose by hand",
                        "es": "Ambiguos: sin emparejar, elige a mano"},
    "batch.start": {"en": "Start batch", "es": "Iniciar lote"},
    "batch.title": {"en": "Season batch", "es": "Lote de temporada"},
    "batch.list_title": {"en": "Season batches", "es": "Lotes de temporada"},
    "batch.list_empty": {"en": "No season batches yet.", "es": "Aún no hay lotes."},
    "batch.new": {"en": "New batch", "es": "Nuevo lote"},
    "batch.all": {"en": "All batches", "es": "Todos los lotes"},
    "batch.retry_failed": {"en": "Retry failed", "es": "Reintentar fallidos"},
    "batch.progress": {"en": "Episodes finished", "es": "Episodios terminados"},
    "batch.ambiguous_left": {"en": "Ambiguous (not paired)", "es": "Ambiguos (sin emparejar)"},
    "batch.not_in_batch": {"en": "Files left out of this batch",
                           "es": "Archivos que quedaron fuera del lote"},
    "batch.disabled": {"en": "Season batches read the server's media folder, which is not "
                             "enabled on this server (MEDIA_SOURCE_ENABLED).",
                       "es": "Los lotes de temporada leen el volumen de medios del servidor, "
                             "que no está activado en este servidor (MEDIA_SOURCE_ENABLED)."},
    # login
    "login.title": {"en": "Log in", "es": "Iniciar sesión"},
    "login.key": {"en": "API key", "es": "Clave de API"},
    "login.submit": {"en": "Log in", "es": "Entrar"},
    "login.wrong": {"en": "That key is not right.", "es": "Esa clave no es correcta."},
    # several dubs in one task (upload page, task page)
    "up.add_dub": {"en": "Add another dub", "es": "Añadir otro doblaje"},
    "up.season_link": {"en": "A whole season? Sync it as a batch",
                       "es": "¿Una temporada entera? Sincronízala por lotes"},
    "up.add_dub_help": {"en": "Several dubs of the same film (e.g. Castilian and Latin "
                              "American) go into one MKV, each with its own sync.",
                        "es": "Varios doblajes de la misma película (p. ej. castellano y "
                              "latino) van en un solo MKV, cada uno sincronizado aparte."},
    "up.another_dub": {"en": "Dubbed video", "es": "Video doblado"},
    "up.remove_dub": {"en": "Remove", "es": "Quitar"},
    "task.warnings": {"en": "Completed with warnings: these dubs were not written",
                      "es": "Completada con avisos: estos doblajes no se escribieron"},
    "task.dubs": {"en": "Dubs", "es": "Doblajes"},
    "task.language": {"en": "Language", "es": "Idioma"},
    "task.dub_result": {"en": "Result", "es": "Resultado"},
    # correcting the map (the task page's Correct card; PUT /api/tasks/<id>/map)
    "correct.title": {"en": "Correct the map", "es": "Corregir el mapa"},
    "correct.help": {"en": "Nudge a segment's offset or move an edge between two segments: "
                           "the Listen clips above then play the change at once. Apply "
                           "renders the MKV again from this map (no new analysis) as a new "
                           "version; the current file stays until the new one is complete.",
                     "es": "Ajusta el desfase de un segmento o mueve el borde entre dos "
                           "segmentos: los fragmentos de Escuchar de arriba suenan entonces "
                           "con el cambio. Aplicar vuelve a generar el MKV con este mapa (sin "
                           "analizar de nuevo) como una versión nueva; el archivo actual se "
                           "queda hasta que la nueva está completa."},
    "correct.refused_help": {"en": "SyncDub refused this pair (the reasons are above), but "
                                   "this is the best map it found. If you have checked it, "
                                   "accept it by hand: the MKV is then written from exactly "
                                   "this map, with no new analysis. You may correct it first.",
                             "es": "SyncDub rechazó esta pareja (los motivos están arriba), "
                                   "pero este es el mejor mapa que encontró. Si lo has "
                                   "comprobado, acéptalo a mano: el MKV se escribe entonces "
                                   "con este mapa tal cual, sin analizar de nuevo. Puedes "
                                   "corregirlo antes."},
    "correct.versions": {"en": "Versions", "es": "Versiones"},
    "correct.dub_range": {"en": "On the dub", "es": "En el doblaje"},
    "correct.orig_range": {"en": "Plays on the original at", "es": "Suena en el original en"},
    "correct.offset": {"en": "Offset (s)", "es": "Desfase (s)"},
    "correct.nudge": {"en": "Nudge (ms)", "es": "Ajustar (ms)"},
    "correct.reset": {"en": "Reset", "es": "Deshacer cambios"},
}

#: Strings the browser script needs (statuses, stages, plain failure messages...).
JS_STRINGS: dict[str, dict[str, str]] = {
    "status.queued": {"en": "Queued", "es": "En cola"},
    "status.processing": {"en": "Processing", "es": "Procesando"},
    "status.completed": {"en": "Completed", "es": "Completada"},
    "status.failed": {"en": "Failed", "es": "Fallida"},
    "status.cancelled": {"en": "Cancelled", "es": "Cancelada"},
    "stage.queued": {"en": "Waiting for a free worker", "es": "Esperando turno"},
    "stage.starting": {"en": "Starting", "es": "Iniciando"},
    "stage.probe": {"en": "Reading the files", "es": "Leyendo los archivos"},
    "stage.extract": {"en": "Decoding audio", "es": "Decodificando el audio"},
    "stage.audio_anchors": {"en": "Matching the sound", "es": "Comparando el sonido"},
    "stage.speech_anchors": {"en": "Listening to the dialogue", "es": "Escuchando los "
                                                                      "diálogos"},
    "stage.fit": {"en": "Fitting the time map", "es": "Ajustando el mapa temporal"},
    "stage.render": {"en": "Re-timing the dub", "es": "Reajustando el doblaje"},
    "stage.mux": {"en": "Writing the MKV", "es": "Escribiendo el MKV"},
    "stage.report": {"en": "Writing the report", "es": "Escribiendo el informe"},
    "stage.done": {"en": "Done", "es": "Hecho"},
    "stage.cancelled": {"en": "Cancelled", "es": "Cancelada"},
    "stage.interrupted": {"en": "Interrupted", "es": "Interrumpida"},
    "err.bad_input": {"en": "One of the files can't be used.",
                      "es": "Uno de los archivos no se puede usar."},
    "err.not_same_film": {"en": "These files do not seem to be the same film, or they differ "
                                "too much to sync safely. Nothing was written.",
                          "es": "Estos archivos no parecen ser la misma película, o difieren "
                                "demasiado para sincronizarlos con seguridad. No se escribió "
                                "nada."},
    "err.media_error": {"en": "ffmpeg could not read or write the media.",
                        "es": "ffmpeg no pudo leer o escribir los archivos."},
    "err.model_error": {"en": "A speech model is missing or could not load. Try the "
                              "'Sound only' matching, or see the System page.",
                        "es": "Falta un modelo de voz o no se pudo cargar. Prueba el método "
                              "'Solo sonido', o mira la página Sistema."},
    "err.interrupted": {"en": "The server restarted while this task was running. Press "
                              "'Run again'.",
                        "es": "El servidor se reinició mientras esta tarea se ejecutaba. "
                              "Pulsa 'Reintentar'."},
    "err.internal_error": {"en": "Something went wrong inside SyncDub; the server log has "
                                 "the details.",
                           "es": "Algo falló dentro de SyncDub; el registro del servidor "
                                 "tiene los detalles."},
    "err.generic": {"en": "The task failed.", "es": "La tarea falló."},
    "conf.high": {"en": "high", "es": "alta"},
    "conf.medium": {"en": "medium", "es": "media"},
    "conf.low": {"en": "low", "es": "baja"},
    "map.offset": {"en": "Offset", "es": "Desfase"},
    "map.speed": {"en": "Speed", "es": "Velocidad"},
    "map.segments": {"en": "Segments", "es": "Segmentos"},
    "map.cuts": {"en": "Cuts", "es": "Cortes"},
    "map.inserts": {"en": "Inserts", "es": "Insertos"},
    "lang.original": {"en": "Original", "es": "Original"},
    "lang.dubbed": {"en": "Dub", "es": "Doblaje"},
    "lang.unknown": {"en": "not detected", "es": "no detectado"},
    "pairs.none": {"en": "The speech path did not run (the sound was enough).",
                   "es": "No se usó la voz (el sonido bastó)."},
    "up.as_original": {"en": "Original", "es": "Original"},
    "up.as_dubbed": {"en": "Dubbed", "es": "Doblado"},
    "task.confidence": {"en": "Confidence", "es": "Confianza"},
    "up.empty": {"en": "No folders or videos here.", "es": "No hay carpetas ni videos aquí."},
    "up.need_both": {"en": "Choose both files.", "es": "Elige los dos archivos."},
    "up.uploading": {"en": "Uploading", "es": "Subiendo"},
    "up.resuming": {"en": "Connection lost; resuming", "es": "Conexión perdida; reanudando"},
    "up.done": {"en": "Uploaded", "es": "Subido"},
    "up.failed": {"en": "Upload failed", "es": "Falló la subida"},
    "up.starting": {"en": "Starting the sync", "es": "Iniciando la sincronización"},
    "up.chosen_original": {"en": "Chosen as original", "es": "Seleccionado como original"},
    "up.chosen_dubbed": {"en": "Chosen as dubbed", "es": "Seleccionado como doblado"},
    "up.items": {"en": "items", "es": "elementos"},
    "up.videos": {"en": "videos", "es": "videos"},
    "media.available": {"en": "Available", "es": "Disponible"},
    "media.unavailable": {"en": "Not available", "es": "No disponible"},
    "media.disabled": {"en": "Not enabled", "es": "No activado"},
    "health.ok": {"en": "Working", "es": "Sistema operativo"},
    "health.degraded": {"en": "Working (speech models missing)", "es": "Operativo (faltan "
                                                                      "modelos de voz)"},
    "health.error": {"en": "Problem: see System", "es": "Problema: ver Sistema"},
    "health.free": {"en": "free", "es": "libre"},
    "task.confirm_delete": {"en": "Delete this task? The MKV stays in the output folder.",
                            "es": "¿Borrar esta tarea? El MKV se queda en la carpeta de "
                                  "salida."},
    # season batches (static/js/batch.js)
    "batch.pick_originals": {"en": "Originals", "es": "Originales"},
    "batch.pick_dubs": {"en": "Dubs", "es": "Doblajes"},
    "batch.need_folders": {"en": "Choose the originals folder and the dubs folder.",
                           "es": "Elige la carpeta de originales y la de doblajes."},
    "batch.same_folder": {"en": "The originals and the dubs must be two different folders.",
                          "es": "Los originales y los doblajes deben estar en carpetas "
                                "distintas."},
    "batch.proposing": {"en": "Reading the two folders", "es": "Leyendo las dos carpetas"},
    "batch.starting": {"en": "Starting the batch", "es": "Iniciando el lote"},
    "batch.how.name": {"en": "name", "es": "nombre"},
    "batch.how.duration": {"en": "duration", "es": "duración"},
    "batch.how.manual": {"en": "by hand", "es": "a mano"},
    "batch.by_hand": {"en": "chosen by hand", "es": "elegido a mano"},
    "batch.choose_dub": {"en": "choose the dubbed file…", "es": "elige el archivo doblado…"},
    "batch.drop": {"en": "Drop", "es": "Quitar"},
    "batch.add_pair": {"en": "Add a pair", "es": "Añadir pareja"},
    "batch.candidates": {"en": "could be", "es": "podría ser"},
    "batch.no_pairs": {"en": "No episode is paired. Add a pair by hand or choose other "
                             "folders.",
                       "es": "Ningún episodio está emparejado. Añade una pareja a mano o "
                             "elige otras carpetas."},
    "batch.need_dub": {"en": "Choose a dubbed file for every row, or drop the row.",
                       "es": "Elige un archivo doblado para cada fila, o quita la fila."},
    "batch.dub_twice": {"en": "The same dubbed file is in two rows.",
                        "es": "El mismo archivo doblado está en dos filas."},
    "batch.summary": {"en": "Pairs", "es": "Parejas"},
    "batch.unpaired": {"en": "unpaired", "es": "sin pareja"},
    "batch.ambiguous_n": {"en": "ambiguous", "es": "ambiguos"},
    "batch.refused": {"en": "refused: not the same film",
                      "es": "rechazado: no es la misma película"},
    "batch.status.processing": {"en": "Processing", "es": "En curso"},
    "batch.status.completed": {"en": "Completed", "es": "Completado"},
    "batch.status.completed_with_refusals": {"en": "Completed, some refused",
                                             "es": "Completado, con rechazos"},
    "batch.status.failed": {"en": "Failed", "es": "Fallido"},
    "batch.status.cancelled": {"en": "Cancelled", "es": "Cancelado"},
    "batch.count.queued": {"en": "queued", "es": "en cola"},
    "batch.count.processing": {"en": "processing", "es": "en curso"},
    "batch.count.completed": {"en": "completed", "es": "completados"},
    "batch.count.refused": {"en": "refused", "es": "rechazados"},
    "batch.count.failed": {"en": "failed", "es": "fallidos"},
    "batch.count.cancelled": {"en": "cancelled", "es": "cancelados"},
    "batch.episodes": {"en": "Episodes", "es": "Episodios"},
    "batch.ep.queued": {"en": "Queued", "es": "En cola"},
    "batch.ep.processing": {"en": "Processing", "es": "Procesando"},
    "batch.ep.completed": {"en": "Completed", "es": "Completado"},
    "batch.ep.failed": {"en": "Failed", "es": "Fallido"},
    "batch.ep.cancelled": {"en": "Cancelled", "es": "Cancelado"},
    "batch.ep.refused": {"en": "Refused", "es": "Rechazado"},
    "batch.download": {"en": "Download", "es": "Descargar"},
    "batch.task": {"en": "Task", "es": "Tarea"},
    "batch.not_found": {"en": "There is no such batch.", "es": "No existe ese lote."},
    "batch.announce": {"en": "Batch", "es": "Lote"},
    # several dubs in one task
    "status.completed_warnings": {"en": "Completed with warnings",
                                  "es": "Completada con avisos"},
    "task.dub_written": {"en": "written", "es": "escrito"},
    "task.dub_refused": {"en": "not written", "es": "no escrito"},
    "task.dub_not_same": {"en": "not the same film (see the warnings)",
                          "es": "no es la misma película (ver los avisos)"},
    "up.too_many_dubs": {"en": "One task takes at most {n} dubs.",
                         "es": "Una tarea admite como mucho {n} doblajes."},
    # listening at every splice (the task page's Listen card; app/services/clips.py)
    "listen.title": {"en": "Listen", "es": "Escuchar"},
    "listen.help": {"en": "Original in the left ear, dub in the right: the voices should "
                          "start together, and each splice should sound clean.",
                    "es": "Original en el oído izquierdo, doblaje en el derecho: las voces "
                          "deben empezar a la vez, y cada empalme sonar limpio."},
    "listen.track": {"en": "Dub track", "es": "Pista doblada"},
    "listen.none": {"en": "No points to listen to.", "es": "No hay puntos que escuchar."},
    "listen.error": {"en": "The listening points could not be loaded:",
                     "es": "No se pudieron cargar los puntos de escucha:"},
    "listen.time": {"en": "Time", "es": "Tiempo"},
    "listen.what": {"en": "What", "es": "Qué"},
    "listen.confidence": {"en": "Confidence", "es": "Confianza"},
    "listen.choice": {"en": "What to hear at {t}", "es": "Qué escuchar en {t}"},
    "listen.player": {"en": "Clip at {t}: {kind}", "es": "Fragmento en {t}: {kind}"},
    "listen.kind.original": {"en": "original", "es": "original"},
    "listen.kind.dub": {"en": "dub", "es": "doblaje"},
    "listen.kind.both": {"en": "both (L/R)", "es": "ambos (I/D)"},
    "listen.kind.mix": {"en": "mix", "es": "mezcla"},
    "listen.point.cut": {"en": "Cut", "es": "Corte"},
    "listen.point.insert": {"en": "Insert", "es": "Inserción"},
    "listen.point.edge": {"en": "Edge", "es": "Borde"},
    "listen.point.inside": {"en": "Inside", "es": "Interior"},
    "listen.cut_middle": {"en": "the dub lacks {from}–{to} ({len} s)",
                          "es": "al doblaje le falta {from}–{to} ({len} s)"},
    "listen.cut_start": {"en": "a cut begins: the dub lacks {from}–{to} ({len} s)",
                         "es": "empieza un corte: al doblaje le falta {from}–{to} ({len} s)"},
    "listen.cut_end": {"en": "a cut ends: the dub comes back at {to}",
                       "es": "termina un corte: el doblaje vuelve en {to}"},
    "listen.insert": {"en": "dub {from}–{to} ({len} s) dropped here",
                      "es": "doblaje {from}–{to} ({len} s) quitado aquí"},
    "listen.edge": {"en": "the offset changes from {a} to {b}",
                    "es": "el desfase cambia de {a} a {b}"},
    "listen.inside": {"en": "offset {a}", "es": "desfase {a}"},
    "listen.speed": {"en": "dub at speed {s}", "es": "doblaje a velocidad {s}"},
    "listen.preview": {"en": "preview of a {d} nudge", "es": "vista previa de un ajuste de {d}"},
    # correcting the map (the task page's Correct card)
    "correct.apply": {"en": "Apply", "es": "Aplicar"},
    "correct.accept": {"en": "Accept this map by hand", "es": "Aceptar este mapa a mano"},
    "correct.segment": {"en": "Segment {n}", "es": "Segmento {n}"},
    "correct.offset_label": {"en": "Offset of segment {n}, in seconds",
                             "es": "Desfase del segmento {n}, en segundos"},
    "correct.nudge_group": {"en": "Nudge segment {n}", "es": "Ajustar el segmento {n}"},
    "correct.nudge_label": {"en": "Segment {n}: offset {d}", "es": "Segmento {n}: desfase {d}"},
    "correct.was": {"en": "was {v}", "es": "antes {v}"},
    "correct.edge": {"en": "Edge between segments {a} and {b}, at dub time",
                     "es": "Borde entre los segmentos {a} y {b}, en el doblaje a"},
    "correct.edge_label": {"en": "Dub time of the edge between segments {a} and {b}, in "
                                 "seconds",
                           "es": "Tiempo del doblaje del borde entre los segmentos {a} y {b}, "
                                 "en segundos"},
    "correct.gap_end": {"en": "Segment {a} ends at dub time", "es": "El segmento {a} termina "
                                                                   "en el doblaje a"},
    "correct.gap_start": {"en": "segment {b} starts at", "es": "el segmento {b} empieza a"},
    "correct.gap_note": {"en": "the dub between them is dropped",
                         "es": "el doblaje entre ambos se quita"},
    "correct.end_label": {"en": "Dub time where segment {a} ends, in seconds",
                          "es": "Tiempo del doblaje en que termina el segmento {a}, en "
                                "segundos"},
    "correct.start_label": {"en": "Dub time where segment {b} starts, in seconds",
                            "es": "Tiempo del doblaje en que empieza el segmento {b}, en "
                                  "segundos"},
    "correct.no_changes": {"en": "No changes.", "es": "Sin cambios."},
    "correct.changed": {"en": "Segments changed: {n}.", "es": "Segmentos cambiados: {n}."},
    "correct.bad_number": {"en": "Type a number of seconds.",
                           "es": "Escribe un número de segundos."},
    "correct.bad_length": {"en": "Segment {n} would end before it starts.",
                           "es": "El segmento {n} terminaría antes de empezar."},
    "correct.bad_before": {"en": "Segment {n} would begin before the start of a file.",
                           "es": "El segmento {n} empezaría antes del inicio de un archivo."},
    "correct.bad_dub_overlap": {"en": "Segments {a} and {b} would overlap on the dub.",
                                "es": "Los segmentos {a} y {b} se solaparían en el doblaje."},
    "correct.bad_orig_overlap": {"en": "Segments {a} and {b} would play at the same time on "
                                       "the original.",
                                 "es": "Los segmentos {a} y {b} sonarían a la vez en el "
                                       "original."},
    "correct.sending": {"en": "Sending the map…", "es": "Enviando el mapa…"},
    "correct.rendering": {"en": "Rendering version {n} (the progress is above).",
                          "es": "Generando la versión {n} (el progreso está arriba)."},
    "correct.refused_put": {"en": "The map was not accepted:", "es": "El mapa no se aceptó:"},
    "correct.map_error": {"en": "The map could not be loaded:",
                          "es": "No se pudo cargar el mapa:"},
    "correct.blocked": {"en": "The map cannot be corrected here:",
                        "es": "El mapa no se puede corregir aquí:"},
    "correct.render_error": {"en": "The last re-render failed; the previous file is kept:",
                             "es": "La última regeneración falló; se conserva el archivo "
                                   "anterior:"},
    "correct.version": {"en": "Version {n}", "es": "Versión {n}"},
    "correct.source.analysed": {"en": "map analysed", "es": "mapa analizado"},
    "correct.source.given": {"en": "map set by hand", "es": "mapa fijado a mano"},
    "correct.synced_in": {"en": "synced in {s} s", "es": "sincronizada en {s} s"},
    "correct.rendered_in": {"en": "rendered in {s} s", "es": "generada en {s} s"},
    "correct.first_took": {"en": "(the first sync took {s} s)",
                           "es": "(la primera sincronización tardó {s} s)"},
    "correct.current": {"en": "current", "es": "actual"},
}


def pick_language(accept_languages, cookie: str | None = None) -> str:
    """`accept_languages`: werkzeug's request.accept_languages."""
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    return accept_languages.best_match(LANGUAGES, default=DEFAULT) if accept_languages \
        else DEFAULT


def translator(lang: str):
    def t(key: str) -> str:
        entry = STRINGS.get(key) or JS_STRINGS.get(key)
        if entry is None:
            return key
        return entry.get(lang) or entry[DEFAULT]
    return t


def js_strings(lang: str) -> dict[str, str]:
    return {k: v.get(lang) or v[DEFAULT] for k, v in JS_STRINGS.items()}
