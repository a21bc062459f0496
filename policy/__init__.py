"""The policy: the tag protocol, the prompts, the `Policy` interface and its backends.

Model backends (transformers, vLLM) are imported only from their own modules, never from here.
"""
