"""A Google Cloud Storage server on loopback, for the gs:// tests: the three
GCS clients mmcap's commands use reach it unchanged, offline.

  python tests/fakegcs.py CERTS_DIR BUCKET...    (prints "READY <port>")

It is gcp-storage-emulator (in-memory buckets) behind one port that speaks:
  * plain HTTP: the emulator, for TensorStore (Orbax's array writes,
    TENSORSTORE_GCS_HTTP_URL) and google-cloud-storage (Orbax's listings,
    STORAGE_EMULATOR_HOST);
  * HTTP CONNECT: TensorFlow's GCS file system (tf.io.gfile, tf.data,
    etils.epath) has https://storage.googleapis.com built in, so it is sent
    here as a proxy (https_proxy) and its TLS is ended with a test CA's
    certificate (CURL_CA_BUNDLE), made by `make_certificates`.
`client_env(port, certs_dir)` is the environment that points all three here.

The emulator lacks what these clients rely on, added below: generation
preconditions and headers (TensorStore), chunked uploads that also carry a
Content-Length, empty directory-marker uploads and https:// upload URLs (TF).
"""

import functools
import re
import socketserver
import ssl
import subprocess
import sys
import threading
from http import server as http_server
from urllib.parse import parse_qs, unquote, urlparse

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.handlers import buckets
from gcp_storage_emulator.storage import Storage


def make_certificates(directory: str) -> None:
  """A test CA (ca.pem) and its certificate for Google's storage hosts
  (leaf.pem, leaf.key) in `directory`, made with openssl."""
  def openssl(*args):
    subprocess.run(['openssl', *args], cwd=directory, check=True, capture_output=True)

  ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
          '-subj', '/CN=fakegcs test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
          '-addext', 'keyUsage=critical,keyCertSign')
  openssl('req', *ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=www.googleapis.com')
  with open(f'{directory}/leaf.ext', 'w') as f:
    f.write('subjectAltName=DNS:www.googleapis.com,DNS:storage.googleapis.com\n'
            'extendedKeyUsage=serverAuth\n')
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
          '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext')


def client_env(port: int, certs_dir: str) -> dict[str, str]:
  """The environment that sends every GCS client of a process here."""
  url = f'http://127.0.0.1:{port}'
  return {
      'https_proxy': url, 'no_proxy': '127.0.0.1,localhost', 'CURL_CA_BUNDLE': f'{certs_dir}/ca.pem',
      'GOOGLE_AUTH_TOKEN_FOR_TESTING': 'fake-token',  # TF's GCS file system
      'TENSORSTORE_GCS_HTTP_URL': url, 'STORAGE_EMULATOR_HOST': url,
  }


_read_body = emulator._read_raw_data  # pylint: disable=protected-access


def _read_chunked_first(handler):
  # TF's curl sends "Transfer-Encoding: chunked" and a Content-Length; chunked
  # wins (RFC 9112), the emulator read Content-Length first.
  if handler.headers.get('Transfer-Encoding', '').lower() == 'chunked':
    del handler.headers['Content-Length']
  return _read_body(handler)


class _Request(emulator.Request):
  """https:// in the URLs the emulator makes (upload sessions) under TLS, and
  an empty body for an empty upload (TF's directory markers)."""

  def __init__(self, handler, method):
    super().__init__(handler, method)
    if handler.is_tls:
      self._base_url = 'https://' + self._base_url.removeprefix('http://')
      self._full_url = self._base_url + self._path
      self._parsed_url = urlparse(self._full_url)

  @property
  def data(self):
    data = super().data
    return b'' if data is None and '/upload/' in self.path else data


_close_response = emulator.Response.close


def _close_with_generation(self):
  generation = getattr(self._handler, 'generation', None)
  if generation and self.status.value in (200, 206):
    self['x-goog-generation'] = str(generation)
    self['x-goog-metageneration'] = '1'
  return _close_response(self)


def _addressed_object(path: str):
  """(bucket, object, query) a request path addresses, or None."""
  url = urlparse(path)
  query = parse_qs(url.query)
  match = re.fullmatch(r'/upload/storage/v1/b/([^/]+)/o', url.path)
  if match and 'name' in query:
    return match.group(1), query['name'][0], query
  match = re.fullmatch(r'/storage/v1/b/([^/]+)/o/([^/]+)', url.path)
  if match:
    return match.group(1), unquote(match.group(2)), query
  match = re.fullmatch(r'/([^/]+)/(.+)', url.path)
  if match and not url.path.startswith(('/storage/', '/upload/', '/batch/')):
    return match.group(1), unquote(match.group(2)), query
  return None


_LOCK = threading.Lock()  # the emulator's storage is not thread-safe
_route = emulator.Router.handle


def _route_with_preconditions(self, method):
  """The emulator's routing, serialised, with ifGeneration(Not)Match."""
  handler = self._request_handler  # pylint: disable=protected-access
  with _LOCK:
    handler.generation = None
    target = _addressed_object(handler.path)
    if target is not None:
      bucket, name, query = target
      try:
        generation = int(handler.storage.get_file_obj(bucket, name)['generation'])
      except Exception:  # pylint: disable=broad-exception-caught
        generation = 0  # no such object
      status = None
      if 'ifGenerationMatch' in query and int(query['ifGenerationMatch'][0]) != generation:
        status = 412
      if 'ifGenerationNotMatch' in query and int(query['ifGenerationNotMatch'][0]) == generation:
        status = 304 if method == 'GET' else 412
      if status is not None:
        emulator._read_raw_data(handler)  # pylint: disable=protected-access
        handler.send_response(status)
        handler.send_header('Content-Length', '0')
        handler.end_headers()
        return
      if method == 'GET' and generation:
        handler.generation = generation
    return _route(self, method)


emulator._read_raw_data = _read_chunked_first  # pylint: disable=protected-access
emulator.Request = _Request
emulator.Response.close = _close_with_generation
emulator.Router.handle = _route_with_preconditions


class _Handler(emulator.RequestHandler):
  protocol_version = 'HTTP/1.1'  # answers "Expect: 100-continue" at once
  disable_nagle_algorithm = True  # else a 40 ms stall per request
  is_tls = False
  tls_context = None

  def do_HEAD(self):  # pylint: disable=invalid-name
    emulator.Router(self).handle('GET')

  def do_CONNECT(self):  # pylint: disable=invalid-name
    self.send_response(200, 'Connection established')
    self.end_headers()
    self.wfile.flush()
    tls = self.tls_context.wrap_socket(self.connection, server_side=True)
    _TLSHandler(self.storage, tls, self.client_address, self.server)
    self.close_connection = True

  def log_message(self, *args):
    del args


class _TLSHandler(_Handler):
  is_tls = True


class _Server(socketserver.ThreadingMixIn, http_server.HTTPServer):
  daemon_threads = True


def main(certs_dir: str, *bucket_names: str) -> None:
  storage = Storage(use_memory_fs=True)
  for name in bucket_names:
    buckets.create_bucket(name, storage)
  context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
  context.load_cert_chain(f'{certs_dir}/leaf.pem', f'{certs_dir}/leaf.key')
  context.set_alpn_protocols(['http/1.1'])
  _Handler.tls_context = context
  server = _Server(('127.0.0.1', 0), functools.partial(_Handler, storage))
  print('READY', server.server_address[1], flush=True)
  server.serve_forever()


if __name__ == '__main__':
  main(*sys.argv[1:])
