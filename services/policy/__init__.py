"""Policy worker: detections → decisions (versioned rules, profiles, floors, declared intent)."""

__all__: list[str] = []
