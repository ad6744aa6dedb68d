"""Class mode in the app: the router's steps (router), the session's place in a class (session), the
per-process poller (poller), the teacher's join screen and sidebar (teacher), the student's banner
(banner), what a student keeps (own), and the few hooks into Streamlit's runtime (hooks)."""
