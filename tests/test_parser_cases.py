"""四至 phrasing beyond the seed documents: verbs, diagonals, adjacency, offsets, chains, codes, noise."""

from __future__ import annotations

import pytest

from app.parser import parse


def sides(text: str, part: int = 0) -> dict[str, list[tuple[str, str]]]:
    r = parse(text).to_dict()
    return {k: [(f["name"], f["kind"]) for f in v] for k, v in r["parts"][part]["sides"].items() if v}


def quals(text: str, side: str, i: int = 0, part: int = 0) -> dict:
    return parse(text).to_dict()["parts"][part]["sides"][side][i]["qualifiers"]


def test_any_direction_order_and_verbs():
    s = sides("北临滨江路，西自龙潭路，南至五星路，东起鸿雁路")
    assert s == {"north": [("滨江路", "road")], "west": [("龙潭路", "road")], "south": [("五星路", "road")],
                 "east": [("鸿雁路", "road")]}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "side"),
    [("东南至亭山路，西至赤亭纸路", "southeast"), ("西北至某某路，东至甲路", "northwest"),
     ("东北至乙路，南至丙路", "northeast"), ("西南至丁路，北至戊路", "southwest")],
)  # fmt: skip
def test_diagonals(text, side):
    assert side in sides(text)


def test_two_sides_one_chain():
    s = sides("东至杭甬运河、南至云东路、西侧和北侧至环城河—皖里江")
    assert s["west"] == s["north"] == [("环城河", "river"), ("皖里江", "river")]


def test_bounded_by_joins_the_side_before_it():
    s = sides("东起浙江大学玉泉校区，以西湖区紫荆花路为界，南至杭徽高速公路")
    assert s["east"] == [("浙江大学玉泉校区", "landmark"), ("紫荆花路", "road")]


def test_bounded_by_without_a_side_goes_to_other():
    r = parse("以文一西路为界，东至古墩路").to_dict()
    assert r["parts"][0]["other"] == ["以文一西路为界"]


@pytest.mark.parametrize("verb", ["接壤", "毗邻", "相邻", "交界"])
def test_adjacency(verb):
    text = f"东至钱塘江，西与富阳区{verb}、北至西湖风景区"
    s = sides(text)
    assert s["west"] == [("富阳区", "admin_boundary")]
    assert quals(text, "west")["relation"] == "adjacent"


def test_half_plane_and_offsets():
    text = "试白路以东1500米，北至环城北路"
    s = sides(text)
    assert s["west"] == [("试白路", "road")]
    assert quals(text, "west")["offset_m"] == 1500
    t2 = "西至试白路以东1500米，北至环城北路"
    assert quals(t2, "west") == {"side": "east", "offset_m": 1500.0}


def test_yixian_suffix_and_conjunctions():
    s = sides("北至西湖区灯彩街、余杭区东西大道和中法航空大学、临安区中苕溪一线")
    assert [n for n, _ in s["north"]] == ["灯彩街", "东西大道", "中法航空大学", "中苕溪"]


@pytest.mark.parametrize("sep", ["—", "-", "－", "、", "与", "及", "和", "–"])
def test_chain_separators(sep):
    assert [n for n, _ in sides(f"东至芳桂路{sep}上山溪")["east"]] == ["芳桂路", "上山溪"]


def test_conjunction_inside_a_name_is_not_split():
    assert sides("南至留和路，北至与城路")["south"] == [("留和路", "road")]


@pytest.mark.parametrize(
    ("written", "name", "kind", "ref"),
    [("G320 国道", "G320国道", "national_road", "G320"), ("320 国道", "G320国道", "national_road", "G320"),
     ("104国道", "G104国道", "national_road", "G104"), ("浙西大道（G320 国道）", "浙西大道", "national_road", "G320"),
     ("沪昆高速（G60）", "沪昆高速", "expressway", "G60"), ("G60 沪昆高速", "沪昆高速", "expressway", "G60"),
     ("城华线（X609）", "城华线", "county_road", "X609"), ("46 省道", "S46省道", "provincial_road", "S46"),
     ("Y501 乡道（常山至十里山）", "Y501乡道", "township_road", "Y501"), ("S304", "S304", "provincial_road", "S304"),
     ("规划 S304", "S304", "planned", "S304"), ("Ｇ３２０国道", "G320国道", "national_road", "G320")],
)  # fmt: skip
def test_route_codes(written, name, kind, ref):
    f = parse(f"东至{written}，西至甲路").to_dict()["parts"][0]["sides"]["east"][0]
    assert (f["name"], f["kind"], f["qualifiers"]["ref"]) == (name, kind, ref)


def test_type_word_first_and_endpoints():
    r = parse("西至县道钳何线，北至 Y501 乡道（常山至十里山）").to_dict()["parts"][0]["sides"]
    assert (r["west"][0]["name"], r["west"][0]["kind"]) == ("钳何线", "county_road")
    assert r["north"][0]["qualifiers"]["endpoints"] == ["常山", "十里山"]


def test_prefixes_become_qualifiers():
    text = "东至马金溪与华埠镇独山村横二路，西至西湖区紫荆花路"
    assert quals(text, "east", 1) == {"town": "华埠镇", "village": "独山村"}
    assert sides(text)["east"][1] == ("横二路", "road")
    assert quals(text, "west") == {"district": "西湖区"}
    # a park prefix is part of the name, not a village
    assert sides("东至杨村园区九路")["east"] == [("杨村园区九路", "road")]


def test_side_qualifiers():
    text = "南至西湖区留和路南侧山脊线，北至齐贤街道北侧镇界，东至狮子山东南侧山脚"
    s = sides(text)
    assert s["south"] == [("留和路南侧山脊线", "ridge")]
    assert quals(text, "south") == {"district": "西湖区", "side": "south", "reference": "留和路"}
    assert s["north"] == [("齐贤街道", "admin_boundary")]
    assert quals(text, "north")["side"] == "north"
    assert s["east"] == [("狮子山", "mountain_foot")]


def test_multi_part_with_areas():
    r = parse(
        "片区一规划面积 10.41 平方公里，东至国泰路，西至 G320 国道；片区二规划面积 3.09 平方公里，东至解放南路"
    ).to_dict()
    assert [(p["name"], p["area_km2"]) for p in r["parts"]] == [("片区一", 10.41), ("片区二", 3.09)]
    assert r["area_km2"] == pytest.approx(13.5)
    r = parse(
        "北片位于上虞区北部杭州湾区域，规划范围北至滨海大道，面积约 28 平方公里；南片为 e 游小镇，北临滨江路，南至五星路，面积约 3 平方公里。总面积约 31 平方公里"
    ).to_dict()
    assert [p["name"] for p in r["parts"]] == ["北片", "南片"]
    assert r["parts"][1]["aliases"] == ["e游小镇"]
    assert r["parts"][0]["located"] == "上虞区北部杭州湾区域"
    assert r["area_km2"] == 31 and r["approximate"]


@pytest.mark.parametrize(
    ("area", "km2"),
    [("规划面积 11.95 平方公里", 11.95), ("占地面积约1800亩", 1.2), ("面积 50 公顷", 0.5), ("面积 12 km²", 12),
     ("面积26万平方米", 0.26), ("面积 3 平方千米", 3.0)],
)  # fmt: skip
def test_area_units(area, km2):
    assert parse(f"甲园区{area}，东至甲路，西至乙路").to_dict()["area_km2"] == pytest.approx(km2)


def test_direction_characters_inside_names():
    s = sides("南至北斗大道，北至北塘河，东至东苕溪，西至江南大道")
    assert s == {"south": [("北斗大道", "road")], "north": [("北塘河", "river")], "east": [("东苕溪", "river")],
                 "west": [("江南大道", "road")]}  # fmt: skip


def test_zhi_that_is_no_boundary():
    r = parse("规划期为2021—2025年，远期展望至 2035 年；建设杭州至临安高速公路（城西至临安城区段）").to_dict()
    assert r["parts"] == [] and r["reason"]


def test_narrative_adjacency_is_not_a_boundary():
    r = parse("银湖科技城立足北接未来科技城，南通三江汇，东临之江新城的区位优势").to_dict()
    assert r["parts"] == []


def test_names_in_any_script():
    s = sides("东至Bahnhofstraße路，南至Avenue Foch大道，西至 e 游小镇")
    assert s["east"][0][0] == "Bahnhofstraße路" and s["south"][0][0] == "Avenue Foch大道"


def test_page_break_noise():
    r = parse(
        "西湖龙坞茶镇：东至留泗路，南至长\n\n埭路、西自龙潭路、北至桐坞路，规划面积 3.2 平方公里1。"
    ).to_dict()
    assert r["zone"] == "西湖龙坞茶镇" and r["area_km2"] == 3.2
    assert sides("东至留泗路，南至长\n\n18\n\n埭路")["south"] == [("长埭路", "road")]


def test_unknown_phrasing_is_kept_in_other():
    r = parse("东至甲路，沿乙河岸线向西延伸与丙路相交，南至丁路").to_dict()
    assert r["parts"][0]["other"] == ["沿乙河岸线向西延伸与丙路相交"]


def test_unnamed_and_planned():
    text = "东至漫池路，南至河道，西至现状地块，北至规划支路"
    s = sides(text)
    assert s["south"] == [("河道", "water")] and s["west"] == [("现状地块", "parcel")]
    assert quals(text, "north") == {"planned": True, "unnamed": True}
