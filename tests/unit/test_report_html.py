"""report.html: report.md as one page with its figures embedded, checked with an HTML parser."""
import base64
from html.parser import HTMLParser

import matplotlib.pyplot as plt

from attnhuman.reporting.plotting import save
from attnhuman.reporting.report import write_html


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tables = [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        self.tables += tag == "table"


def test_figures_are_embedded_and_tables_rendered(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = save(fig, tmp_path / "figures" / "fig4.png").read_bytes()
    (tmp_path / "report.md").write_text("# Report\n\n| run | L1 |\n|---|---|\n| llama | 64.32 |\n\n"
                                        "![Paper Figure 4](figures/fig4.png)\n", encoding="utf-8")
    write_html(tmp_path / "report.md", tmp_path / "report.html")
    page = Collector()
    page.feed((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert page.tables == 1 and len(page.images) == 1 and page.images[0]["alt"] == "Paper Figure 4"
    src = page.images[0]["src"]
    assert src.startswith("data:image/png;base64,") and base64.b64decode(src.split(",", 1)[1]) == png
