#!/usr/bin/env python3
"""Share sessions with Node apps from Python, through the express-redis-sessions REST server.

Standard library only. Start the server, then run this script:

    express-redis-sessions serve --api-key "$KEY"
    ERS_URL=http://127.0.0.1:8101 ERS_API_KEY="$KEY" python3 examples/python-client.py

It creates a session, reads it, updates it, kills it, and checks each step; it prints one JSON
line per step and exits with 0 when every step behaved as documented.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


class SessionsError(Exception):
    """An error reply of the server: HTTP status plus redis-sessions' name, message and code."""

    def __init__(self, status, name, message, code):
        super().__init__("%s %s (%s): %s" % (status, name, code, message))
        self.status = status
        self.name = name
        self.code = code


class SessionsClient:
    """A small client for the rest-sessions routes of one app."""

    def __init__(self, base_url, app, api_key=None, timeout=5.0):
        self.base_url = base_url.rstrip("/")
        self.app = app
        self.api_key = api_key
        self.timeout = timeout

    def _call(self, method, route, query=None, body=None):
        path = "/%s/%s" % (urllib.parse.quote(self.app, safe=""), route)
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("x-api-key", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            try:
                reply = json.loads(err.read().decode("utf-8"))
            except ValueError:
                reply = {}
            raise SessionsError(
                err.code, reply.get("name"), reply.get("message"), reply.get("code")
            ) from None

    @staticmethod
    def _segment(value):
        return urllib.parse.quote(str(value), safe="")

    def create(self, user_id, ip, ttl=None, d=None):
        """Creates a session and returns its token."""
        query = {"ip": ip}
        if ttl is not None:
            query["ttl"] = str(ttl)
        return self._call("PUT", "create/" + self._segment(user_id), query, d)["token"]

    def get(self, token):
        """The session, or None when the token is unknown or expired (the server sends {})."""
        return self._call("GET", "get/" + self._segment(token)) or None

    def set(self, token, d):
        """Merges d into the session's data (None deletes a key); None if the session is gone."""
        return self._call("POST", "set/" + self._segment(token), body=d) or None

    def kill(self, token):
        """Ends the session; returns 1 if it was alive, 0 otherwise."""
        return self._call("DELETE", "kill/" + self._segment(token))["kill"]


def step(label, **fields):
    print(json.dumps(dict(step=label, **fields)), flush=True)


def check(condition, what):
    if not condition:
        step("failed", what=what)
        sys.exit(1)


def main():
    base_url = os.environ.get("ERS_URL", "http://127.0.0.1:8101")
    client = SessionsClient(base_url, os.environ.get("ERS_APP", "pyapp"), os.environ.get("ERS_API_KEY"))

    token = client.create("user42", "192.0.2.7", ttl=3600, d={"name": "Ada", "visits": 1})
    check(len(token) == 64, "create returns a 64-character token")
    step("create", token=token)

    session = client.get(token)
    check(session["id"] == "user42" and session["d"] == {"name": "Ada", "visits": 1}, "get")
    step("get", id=session["id"], ip=session["ip"], d=session["d"])

    session = client.set(token, {"visits": 2, "name": None, "lang": "py"})
    check(session["d"] == {"visits": 2, "lang": "py"}, "set merges and deletes")
    step("set", w=session["w"], d=session["d"])

    killed = client.kill(token)
    check(killed == 1, "kill ends the session")
    step("kill", kill=killed)

    check(client.get(token) is None, "a killed session is gone")
    step("get-after-kill", session=None)

    try:
        client.get("not-a-token")
        check(False, "a bad token is refused")
    except SessionsError as err:
        check(err.status == 400 and err.name == "invalidFormat", "bad token is a 400")
        step("error", status=err.status, name=err.name, code=err.code)


if __name__ == "__main__":
    main()
