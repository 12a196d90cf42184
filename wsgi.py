from casefile import create_app

app = create_app()
