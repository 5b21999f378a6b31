"""Exercise 4, a reference solution: a hub that fans out and drops whoever cannot keep up."""


class Hub:
    def __init__(self):
        self.clients = set()

    def register(self, client):
        self.clients.add(client)

    def unregister(self, client):
        self.clients.discard(client)  # a dropped client unregisters again when it closes

    def broadcast(self, message, skip=None):
        too_slow = [c for c in self.clients if c is not skip and not c.queue(message)]
        for client in too_slow:
            self.unregister(client)
