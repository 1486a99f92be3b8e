"""format_table must print what Go's text/tabwriter(0, 8, 1, '\\t', 0) prints."""

from rktfast.output.tabwriter import format_table


def test_rkt_list_with_continuation_lines_and_empty_cells():
    rows = [
        ["UUID", "APP", "IMAGE NAME", "STATE", "CREATED", "STARTED", "NETWORKS"],
        ["5e4a41c4", "etcd", "coreos.com/etcd:v3.1.7", "running", "1 minute ago",
         "1 minute ago", "default:ip4=172.16.28.2"],
        ["", "redis", "docker.io/redis:latest", "", "", "", ""],
    ]
    assert format_table(rows) == (
        "UUID\t\tAPP\tIMAGE NAME\t\tSTATE\tCREATED\t\tSTARTED\t\tNETWORKS\n"
        "5e4a41c4\tetcd\tcoreos.com/etcd:v3.1.7\trunning\t1 minute ago\t1 minute ago\t"
        "default:ip4=172.16.28.2\n"
        "\t\tredis\tdocker.io/redis:latest\t\t\t\t\t\t\n"
    )


def test_trailing_empty_cell_ends_line_after_padding():
    assert format_table([["a", "b", ""]]) == "a\tb\t\n"


def test_exact_multiple_of_tabwidth_gets_a_full_extra_tab():
    # width 8 + padding 1 = 9 -> 16: "12345678" needs one tab, "x" two.
    assert format_table([["12345678", "y"], ["x", "z"]]) == "12345678\ty\nx\t\tz\n"


def test_single_cell_line_breaks_the_column_block():
    rows = [["aaaaaaaaaa", "b"], ["c"], ["d", "e"]]
    assert format_table(rows) == "aaaaaaaaaa\tb\nc\nd\te\n"
    # Without the break the block is shared and "d" is padded to 16.
    assert format_table([["aaaaaaaaaa", "b"], ["d", "e"]]) == "aaaaaaaaaa\tb\nd\t\te\n"


def test_inner_column_blocks_nest_inside_outer_ones():
    rows = [["a", "bbbbbbbbbbbb", "c"], ["a", "d"], ["a", "e", "f"]]
    assert format_table(rows) == "a\tbbbbbbbbbbbb\tc\na\td\na\te\tf\n"


def test_width_counts_runes_not_bytes():
    rows = [["\u00e9" * 9, "x"], ["y", "z"]]
    assert format_table(rows) == "\u00e9" * 9 + "\tx\ny\t\tz\n"


def test_image_list_style_table():
    rows = [["ID", "NAME", "SIZE", "IMPORT TIME", "LAST USED"],
            ["sha512-91e98d7f1679", "coreos.com/etcd:v2.0.9", "12MiB", "6 days ago",
             "2 minutes ago"]]
    assert format_table(rows) == (
        "ID\t\t\tNAME\t\t\tSIZE\tIMPORT TIME\tLAST USED\n"
        "sha512-91e98d7f1679\tcoreos.com/etcd:v2.0.9\t12MiB\t6 days ago\t2 minutes ago\n")


def test_no_rows_is_empty():
    assert format_table([]) == ""
