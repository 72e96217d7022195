"""Bundled demo content: the fictional Fernbrook website, its renderer, a static server and labelled questions."""
