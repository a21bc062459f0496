"""The agent graph's nodes: `reason` (policy call + parse), `crop`, `image_search`, `text_search`, `reflect`, `answer`.

Nodes are callables that hold their collaborators (policy, tools), receive the state and the run's `RunConfig`, and
return only what they add to the state. The graph wiring is in `graph.build`.
"""
