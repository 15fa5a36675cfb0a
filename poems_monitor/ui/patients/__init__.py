"""The patient list: table model, search/filter proxy and the panel that shows them."""
