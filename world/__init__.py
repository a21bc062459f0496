"""The frozen web: the offline pages and images the agent searches. `world.fixture` is the tiny test world."""
