"""A Python app profiled by the real Pyroscope SDK (pip: pyroscope-io), for tests/clients.rs.

    python3 python_app.py SERVER_URL APP_NAME SECONDS

Configures pyroscope with the server address, the application name and a `region` tag, burns
CPU in burn_cpu_flamestream for SECONDS, then shuts the agent down, which uploads what is left.
pyroscope-io 1.4.0 uploads through the Push API (/push.v1.PusherService/Push).
"""

import sys
import time

import pyroscope


def burn_cpu_flamestream(seconds):
    end = time.monotonic() + seconds
    x = 1
    while time.monotonic() < end:
        for _ in range(1000):
            x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    return x


def main():
    server, app, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    pyroscope.configure(
        application_name=app,
        server_address=server,
        tags={"region": "test-region"},
        upload_interval=2,
        enable_logging=True,
    )
    burn_cpu_flamestream(seconds)
    if not pyroscope.shutdown():
        print("pyroscope.shutdown() failed", file=sys.stderr)
        sys.exit(1)
    print("python app done")


if __name__ == "__main__":
    main()
