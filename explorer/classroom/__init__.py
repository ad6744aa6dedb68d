"""Class mode: a teacher's view that students follow live (issue 20).

`codes` makes and checks join codes, teacher secrets and names; `views` says which address
settings a follower takes from the teacher and which stay their own; `store` keeps every class
in the Dask scheduler's metadata, where every web replica reads it. Nothing here imports streamlit.
"""
