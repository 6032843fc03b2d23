"""The HTTP gateway: moderation, appeals, review, decisions and the policy over HTTP."""

__all__: list[str] = []
