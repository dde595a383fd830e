import matplotlib

matplotlib.use("Agg")

from course_lib import model_map  # noqa: E402


def test_the_map_has_the_five_families_and_places_the_course_models():
    names = [f.name for f in model_map.FAMILIES]
    assert sorted(names) == sorted(["autoregressive", "VAE", "GAN", "flow", "diffusion"])
    built = {f.name: f.in_course for f in model_map.FAMILIES}
    assert "07" in built["VAE"] and "09" in built["flow"] and "05" in built["diffusion"]
    assert "04" in built["autoregressive"] and built["GAN"] == ""
    assert all(f.reference and f.likelihood in model_map.GROUPS for f in model_map.FAMILIES)


def test_the_table_has_a_row_per_family_and_the_figure_draws():
    table = model_map.table_markdown()
    rows = table.splitlines()[2:]
    assert len(rows) == 5 and all(row.count("|") == 6 for row in rows)  # no stray pipes
    fig = model_map.draw_map()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "diffusion" in texts and "not built in the course" in texts
    matplotlib.pyplot.close(fig)
