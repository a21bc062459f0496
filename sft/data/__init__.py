"""DeepMMSearchVQA: multi-hop image questions over the frozen web and teacher trajectories through the agent graph.

`entities` joins the world's facts into entities, `synthesize` turns them into question specs and renders them
(single images and composites), `teacher` is the programmatic oracle, `pipeline` runs teachers through the graph
with the paper's checks, and `export` writes Hugging Face datasets and the data card.
"""
