"""Static files storage: WhiteNoise's hashed, compressed storage (gzip), with dsign's own ES modules rewritten.

Brotli at WhiteNoise's quality setting costs most of collectstatic's time on pdf.js and the API docs
bundles (minutes on a small machine) for a modest saving over gzip, which every browser takes.

The pages load `js/*.mjs` modules that import each other and pdf.js by relative URL; the imports and the
`new URL("….mjs", import.meta.url)` of the pdf.js worker are rewritten to the hashed names, so the whole
chain is served with WhiteNoise's ten-year immutable lifetime instead of the short one of plain names.
"""

from django.contrib.staticfiles.storage import HashedFilesMixin, ManifestStaticFilesStorage
from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage

_MODULE_URL = (
    r"""(?P<matched>new URL\(\s*["'](?P<url>[./][^"']*\.mjs)["']\s*,\s*import\.meta\.url\s*\))""",
    """new URL("%(url)s", import.meta.url)""",
)
_OWN_MODULES = ("js/*.mjs", (*ManifestStaticFilesStorage._js_module_import_aggregation_patterns[1], _MODULE_URL))


class GzipManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = (*CompressedManifestStaticFilesStorage.patterns, _OWN_MODULES)

    def url(self, name, force=False):
        # Without a manifest (no collectstatic yet: development, tests) files come from the app directories
        # under their plain names. Once collectstatic wrote one (make demo, the image) the collected files
        # are what is served (settings: WHITENOISE_USE_FINDERS), so link their hashed names, DEBUG or not.
        if self.hashed_files:
            try:
                return super().url(name, force=True)
            except ValueError:  # not collected (a file added since): its plain name
                pass
        return super(HashedFilesMixin, self).url(name)

    def create_compressor(self, **kwargs):
        return Compressor(use_brotli=False, **kwargs)
