"""Every word a unit or the centre reads: code -> Chinese template with named placeholders.

Findings carry codes and facts; text is rendered here, at output time, so the receipt, the
error workbook and `validate --json` say the same thing.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from exchange import codes as C

ROW_MESSAGES: dict[str, str] = {
    C.REQUIRED: "「{column}」为必填项，不能为空，请补填。",
    C.ID_FORMAT: "「{column}」“{value}”不是18位居民身份证号码（应为17位数字加1位数字或X），请核对后重填。",
    C.ID_BIRTHDATE: "「{column}」“{value}”中的出生日期不存在或晚于今天，请逐位核对证件号码。",
    C.ID_CHECKSUM: "「{column}」“{value}”末位校验码不正确，请逐位核对证件号码。",
    C.ID_NUMERIC: "「{column}」被 Excel 存成了数字（显示为 {value}），号码末几位已经丢失。"
                  "请把该列单元格格式设置为“文本”，重新录入完整的18位号码后再报送。",
    C.NAME_INVALID: "「{column}」“{value}”不是有效姓名：姓名中不能有空格、数字或符号"
                    "（少数民族姓名中间的点写作“·”）。",
    C.SEX_MISMATCH: "「{column}」填的是“{value}”，但身份证号码表明是“{expected}”，请核对。",
    C.BIRTHDATE_MISMATCH: "「{column}」“{value}”与身份证号码中的出生日期 {expected} 不一致，请核对。",
    C.CODE_UNKNOWN: "「{column}」“{value}”不在代码表中，请从下拉列表选择（可填代码、名称或“代码-名称”，"
                    "例如：{examples}）。",
    C.MONTH_INVALID: "「{column}」“{value}”不是有效年月，请按 YYYYMM 格式填写，例如 201607。",
    C.DATE_INVALID: "「{column}」“{value}”不是有效日期，请按 YYYY-MM-DD 格式填写，例如 2016-07-01。",
    C.MONTH_NOT_AFTER_PAID: "「{column}」{value} 必须晚于该人员{insurance}的最大缴费月份 {paid}。",
    C.WAGE_NOT_INTEGER: "「{column}」“{value}”不是整数，工资不保留小数，请填写整数（单位：元）。",
    C.WAGE_OUT_OF_BOUNDS: "「{column}」{value} 超出 {month} 的缴费基数范围（下限 {low}，上限 {high}）。",
    C.DUPLICATE_IN_FILE: "同一人员在本文件第 {first_row} 行已经出现，本行不再导入。",
    C.DUPLICATE_IMPORTED: "该行已在之前的报盘中导入（业务流水号 {serial}），本次不重复导入。",
    C.PERSON_NOT_ON_FILE: "系统中没有该{who}（{id}）的{record}。{advice}",
    C.PERSON_NOT_INSURED_HERE: "该人员当前不在本单位参保，不能办理{kind_label}。",
    C.PERSON_INSURED_ELSEWHERE: "该人员当前在其他单位（{other_unit}）参保，请原单位先办理减少后再申报。",
    C.PERSON_PENDING: "该人员已有未审核完毕的申报（业务流水号 {serial}，{kind_label}，{status}），"
                      "审核结束前不能申报新业务。",
    C.ARREARS: "该人员存在欠费 {amount} 元，欠费结清前不能办理{kind_label}。",
    C.HOUSEHOLD_MISSING: "户主（{head}）尚未登记，请先报送户主信息表。",
    C.HOUSEHOLD_HAS_MEMBERS: "户主（{head}）名下还有 {members} 名参保人员，不能删除。",
    C.PHOTO_UNREADABLE: "照片“{value}”无法识别为图片，请用 JPG 或 PNG 格式。",
    C.PHOTO_TOO_SMALL: "照片“{value}”只有 {width}×{height} 像素，至少需要 {min_width}×{min_height} 像素。",
    C.PHOTO_TOO_LARGE: "照片“{value}”有 {width}×{height} 像素（约 {megapixels} 万），超过系统能处理的 {limit} 万像素"
                       "（制卡只用 {card_width}×{card_height}）。请把照片缩小后重新报送：手机拍照选 1200 万像素"
                       "或标准画质，或用画图等软件“调整大小”。",
    C.PHOTO_UNKNOWN_PERSON: "照片“{value}”对应的证件号码不是本单位的参保人员。",
    C.PERSON_ALREADY_INSURED: "该人员已在本单位参保，{advice}",
    C.RECORD_MISMATCH: "「{column}」“{value}”与系统记录“{expected}”不一致，此列请勿改动。",
    C.NOTHING_TO_CHANGE: "本行没有填写任何要修改的内容。",
    C.DECLARATION_NOT_FOUND: "没有找到本单位可回退的申报（{by} {value}）。",
    C.DECLARATION_NOT_PENDING: "业务流水号 {serial} 的申报当前为“{status}”，只有未提交的申报才能回退。",
    C.INSURANCE_WITHOUT_BASIC: "「参保险种」须包含{basic}：{named}只能与{basic}一同参保。"
                               "请加上{basic}，或留空（默认参加{defaults}）。",
    C.ROW_EXTRA_CELLS: "本行在表头之外还有 {count} 格内容（第 {letters} 列，“{value}”），本行未导入："
                       "若是某格内容中的英文逗号把它拆成了两格（例如“310,510”），其后各列已经错位，"
                       "请用引号把该格括起、或改用“、”分隔；若是备注，请删去后重新报送。",
    C.TEXT_TOO_LONG: "「{column}」超过 {limit} 个字符，请精简。",
    C.FORMAT_INVALID: "「{column}」“{value}”格式不正确（{expected}）。",
    C.PHONE_INVALID: "「{column}」“{value}”不是有效的电话号码（手机11位，固话可带区号和“-”）。",
}

FILE_MESSAGES: dict[str, str] = {
    C.FILE_UNREADABLE: "文件无法读取（{reason}）。请用 Excel 打开后另存为 .xlsx 格式再报送。",
    C.FILE_ENCRYPTED: "文件设置了打开密码，系统无法读取。请取消密码保护后重新报送。",
    C.FILE_EMPTY: "文件中没有数据行（表头下方没有填写内容）。",
    C.FILE_UNKNOWN_KIND: "无法识别报盘类型。请使用系统下发的模板（outbox/templates/），不要改动标题和表头。",
    C.FILE_MISSING_COLUMNS: "“{title}”缺少必填列：{columns}。请使用系统下发的模板，不要删除或改动表头。",
    C.FILE_WRONG_UNIT: "该文件属于单位 {named}，不能由本单位（{unit}）报送。",
    C.FILE_TOO_LARGE: "文件超出限制：{what}（上限 {limit}），请拆分成多个文件后报送。",
    C.FILE_SEVERAL_SHEETS: "工作簿中有多个工作表在表头下填有内容（{sheets}），系统每个文件只读取一个工作表。"
                           "请把人员合并到一个工作表并删去其余的表，或把每个工作表另存为单独的文件分别报送。",
    C.FILE_DUPLICATE_COLUMNS: "表头中有 {count} 列都是“{column}”（第 {letters} 列），无法确定以哪一列为准"
                              "（隐藏的列也会被读取）。请删除多余的列，只保留要申报的一列后重新报送。",
    C.FILE_UNKNOWN_UNIT: "收件目录“{unit}”不对应任何已登记的单位，请联系医保中心开通账户。",
    C.FILE_HOSTILE: "文件结构异常（{what}），出于安全原因拒绝处理。",
}

# Short phrases that fill `{reason}` / `{what}` placeholders of file messages.
PHRASES: dict[str, str] = {
    "not_workbook": "不是 Excel 工作簿或 CSV 文件",
    "xlsb": "Excel 二进制工作簿（.xlsb）无法读取",
    "web_table": "这是网页或 XML 格式的表格，并非 Excel 工作簿，网页系统导出的“.xls”常是这种格式",
    "corrupt": "文件已损坏或不完整",
    "bad_encoding": "CSV 文件编码无法识别",
    "no_sheet": "工作簿中没有工作表",
    "file_size": "文件大小",
    "row_count": "数据行数",
    "zip_members": "压缩包内文件数",
    "zip_ratio": "压缩比异常（疑似压缩炸弹）",
    "zip_size": "解压后大小",
    "zip_path": "压缩包内含有非法路径",
    "zip_duplicate": "压缩包内有重名的文件",
    "link": "收件箱中的是一个链接（快捷方式），不是文件本身",
    "xml_entities": "XML 中含有实体定义",
    "pixels": "图片像素数",
    "column_count": "列数",
    "positive_integer": "应为正整数",
    "postcode": "应为6位数字邮政编码",
    "amount": "应为不小于0的金额",
    # issue 17: money
    "rate": "应为小于1的费率（如 0.08 或 8%），最多六位小数",
    "year": "应为四位年份，如 2026",
    "by_serial": "业务流水号",
    "by_id": "身份证号",
    # The reading sandbox and the checks in front of it (issue 15, exchange.read.sandbox)
    "shared_strings": "共享字符串表大小",
    "line_length": "CSV 单行长度",
    "read_memory": "读取该文件所需内存",
    "read_time": "读取该文件所需时间",
    "reader_crashed": "读取程序在解析该文件时异常终止，文件可能已损坏或结构异常",
}
# Recovery (issue 15 item 2): a claimed file whose processing ended the program twice.
PHRASES["crashed"] = "处理此文件时程序两次异常终止"

PRODUCT_NAME = "报盘交换"
WORKBOOK_FONT = "宋体"
YES, NO = "是", "否"
# Words inside output file names: <stamp>-<id>-<original>.回执.txt, .错误.xlsx
OUTPUT_NAMES = {"receipt": "回执", "errors": "错误"}


def month_label(month: str) -> str:
    """202607 -> 2026年7月."""
    return f"{month[:4]}年{int(month[4:])}月"


# Headers of a column of row numbers a clerk adds left of the data: not declaration content.
ROW_NUMBER_HEADERS = ("序号", "序", "行号", "No.", "No", "#")

STATUS_LABELS = {
    "accepted": "全部成功",
    "partial": "部分成功",
    "rejected": "整体拒收",
    "quarantined": "已隔离",
}

DECLARATION_STATUS_LABELS = {
    "pending": "待提交",
    "submitted": "已提交",
    "approved": "审核通过",
    "rejected": "审核不通过",
    "withdrawn": "已回退",
}

RECEIPT_WORDS = {
    "title": "报盘回执",
    "unit": "单位",
    "file": "文件",
    "received": "接收时间",
    "kind": "报盘类型",
    "status": "处理结果",
    "counts": "成功 {accepted} 行，失败 {failed} 行，重复 {duplicate} 行，共 {total} 行。",
    "error_book": "失败的行已写入错误工作簿：{name}。修改后可直接把该工作簿重新放入收件箱。",
    "rows_header": "逐行说明：",
    "footer_rows": "第 {rows} 行是表格的合计、落款或说明（如“合计”“制表人：”“单位（盖章）”），不是参保人员，"
                   "未作为申报数据读取。",
    "footer_more": "等 {count} 行",
    "column_named": "第 {letter} 列「{name}」",
    "hidden_rows": "第 {rows} 行在工作表中被隐藏（如被筛选掉），未作为申报数据读取；"
                   "如需报送，请取消隐藏或筛选后重新放入收件箱。",
    "untouched_rows": "第 {rows} 行是模板预填的人员，没有填写要办理的内容，未作为申报数据读取"
                      "（不办理的人员可以保留在表中，也可以整行删除）。",
    "row_line": "第 {row} 行{who}：{message}",
    "file_reason": "原因：",
    # Followed by what will happen to them (pending_nightly / pending_centre / pending_confirm).
    "pending_hint": "成功导入的申报处于“待提交”状态",
    "unknown_kind": "（无法识别）",
    "more_rows": "……另有 {more} 行未逐一列出，失败行见错误工作簿，全部明细见 JSON 回执。",
    # Above the rows, where many failed: the commonest (column, code) pairs and an example.
    "top_problems": "失败最多的原因：",
    "top_problem": "  {column}：{count} 行，例如第 {row} 行：{message}",
    "whole_row": "整行",
    "archived": "原文件已归档。",
    "quarantined": "原文件已隔离，未导入任何数据。",
}

ERROR_BOOK_WORDS = {
    "title": "{title}（错误行）  单位编号：{unit}  单位名称：{unit_name}  原文件：{source}",
    "reason_header": "失败原因",
    "codes_header": "错误代码",
    "sheet": "失败行",
    "note": "本表只含导入失败的行。按“失败原因”修改后，把本工作簿重新放入收件箱即可；已成功导入的行不会重复导入。",
}

MASTER_WORDS = {
    "unit_header": "单位编号",
}


class _Missing(dict):  # type: ignore[type-arg]
    """A placeholder without its parameter stays as written. Defined once: a class made per
    message cost 50 µs, a second per 20,000 receipt notes."""
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _safe(template: str, params: Mapping[str, Any]) -> str:
    return template.format_map(_Missing({k: ("" if v is None else v) for k, v in params.items()}))


def _phrased(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: PHRASES.get(v, v) if isinstance(v, str) else v for k, v in params.items()}


# A row finding's message where its params say more (the first parameter named here that has a
# value picks the template).
ROW_MESSAGES_WITH: dict[str, dict[str, str]] = {
    C.DUPLICATE_IN_FILE: {
        # A 班级停保 row after rows that stopped pupils of that class one by one.
        "pupil_rows": "本班级的学生已在本文件第 {pupil_rows} 行逐人申报停保，本行（整班停保）不再导入。"
                      "若本班还有其他学生要停保，请删去逐人申报的行、只保留本行后重新报送。",
    },
    C.DECLARATION_NOT_PENDING: {
        "took_effect": "业务流水号 {serial} 的“{took_effect}”在导入时已经生效，不能回退。"
                       "如需更正，请重新报送一份{title}。",
    },
    C.DECLARATION_NOT_FOUND: {
        "took_effect": "“{took_effect}”在导入时已经生效，没有可回退的申报。如需更正，请重新报送一份{title}。",
    },
    C.PERSON_NOT_INSURED_HERE: {
        # A stop of a person whose insurance here starts in a later month (columnar_rows).
        "starts": "该人员在本单位从 {starts} 起才参保，尚未开始，不能办理{kind_label}。"
                  "如增加申报有误，请用业务回退表撤回（已审核通过的请联系医保经办机构）。",
        # An approval refused in the centre's receipt: the person has moved since the import
        # (master data), so the stop, wage or change no longer concerns this unit (review.effects).
        "missing": "业务流水号 {serial} 的{kind_label}不能审核通过：{name}（{id}）已没有参保记录"
                   "（申报提交后参保信息有变动），本申报未生效。请核实；不再办理的请填写“不通过”并注明原因。",
        "other_unit": "业务流水号 {serial} 的{kind_label}不能审核通过：{name}（{id}）现在在单位 {other_unit} 参保，"
                      "已不在本单位 {unit}（申报提交后参保信息有变动），本申报未生效。请核实；"
                      "不再办理的请填写“不通过”并注明原因。",
        "serial": "业务流水号 {serial} 的{kind_label}不能审核通过：{name}（{id}）在本单位 {unit} 的参保状态现为"
                  "“{status}”（申报提交后参保信息有变动），本申报未生效。请核实；不再办理的请填写“不通过”并注明原因。",
    },
    C.NOTE_WHOLE_STAFF: {
        "accepted": "注意：本文件列出了本单位全部 {count} 名在职参保人员，其中 {accepted} 人的{kind}已导入"
                    "（其余各行未通过，见下）。如果这不是本意（例如把预填的模板原样报送了），"
                    "请在提交前用业务回退表撤回不办理的人员。",
    },
    C.MONTH_NOT_AFTER_PAID: {
        "stopped": "「{column}」{value} 必须晚于 {stopped}：该人员在原单位（{unit}）参保至 {stopped} 月底，"
                   "本单位最早从下一个月起参保。",
    },
    C.RECORD_MISMATCH: {
        # A column the clerk types (an add's 姓名), not one the template fills from the record.
        "typed": "「{column}」“{value}”与系统登记的“{expected}”不一致，请核对后重填"
                 "（以身份证上的为准；登记有误的请到医保经办窗口更正）。",
    },
    C.REQUIRED: {
        # 业务回退表: the declaration is named by its serial, or by the ID (and 业务类型).
        "or_id": "请填写「业务流水号」，或填写「身份证号」（可同时填写「业务类型」）来指明要回退的申报。",
    },
    C.REVIEW_MISMATCH: {
        "photo": "照片 {photo} 是 {person} 的证件照，但本行填的人员是 {row_person}，两者不一致，本行不作审核。"
                 "请核对本行的照片编号和证件号码（只对部分列排序会使各列错位；也请确认工作簿是本系统下发的）。",
    },
}
ROWS_SHOWN = 20             # row numbers named in one line before "等 N 行"


def row_message(code: str, params: Mapping[str, Any]) -> str:
    """Chinese reason for a row finding; phrase keys in params are translated."""
    variants = ROW_MESSAGES_WITH.get(code, {})
    template = next((variants[k] for k in variants if params.get(k)), None)
    return _safe(template or ROW_MESSAGES.get(code, code), _phrased(params))


def shown_rows(rows: Sequence[int]) -> str:
    """Row numbers for a message: 7、8、9, at most ROWS_SHOWN of them and then 等 N 行."""
    shown = "、".join(str(r) for r in rows[:ROWS_SHOWN])
    if len(rows) > ROWS_SHOWN:
        shown += RECEIPT_WORDS["footer_more"].format(count=len(rows))
    return shown


# A refusal that names the cell it is about (guard.check_extent: the farthest cell holding a
# value), for the clerk to go there: often a stray space typed far below or right of the data.
FILE_MESSAGES_AT: dict[str, str] = {
    C.FILE_TOO_LARGE: "文件超出限制：{what}（上限 {limit}）：工作表在单元格 {cell} 处填有内容或设置了格式。"
                      "若那是多余的（例如误输入的空格，或设置了格式的空白单元格），"
                      "请清除该单元格（开始→清除→全部清除）后重新报送；"
                      "否则请拆分成多个文件后报送。",
}
# …and where its rows are all pre-filled ones left as they were (`untouched`: how many).
FILE_MESSAGES_UNTOUCHED: dict[str, str] = {
    C.FILE_EMPTY: "表中的 {untouched} 行都是模板预填的人员，没有一行填写了要办理的内容（{columns}），"
                  "未作为申报数据读取。请在要办理的人员行填写后重新报送。",
}


# …and file.unreadable by its reason, where "open it in Excel and save it as .xlsx" is wrong:
# the product failed on it (`internal`: an error of the program, a broken rules file, a reading
# worker that cannot start: the file is not blamed, nor is the clerk told to save it again), or
# Excel cannot open it (`fods`, LibreOffice's flat XML).
UNREADABLE_MESSAGES: dict[str, str] = {
    "internal": "系统在处理该文件时发生内部错误，这不是文件本身的问题。文件已由医保中心保留，"
                "技术人员处理后会重新处理，无需重新报送；如有疑问请联系医保中心。",
    "fods": "文件无法读取（这是 LibreOffice 的平面 XML 表格（.fods），本系统不读取这种格式）。"
            "请在 LibreOffice 或 WPS 中打开，另存为 .xlsx 格式后再报送。",
}


def file_message(code: str, params: Mapping[str, Any]) -> str:
    """Chinese reason for a whole-file refusal; phrase keys in params are translated."""
    template = (FILE_MESSAGES_AT.get(code) if params.get("cell") else
                FILE_MESSAGES_UNTOUCHED.get(code) if params.get("untouched") else
                UNREADABLE_MESSAGES.get(params.get("reason") or "") if code == C.FILE_UNREADABLE else
                None)
    return _safe(template or FILE_MESSAGES.get(code, code), _phrased(params))


# A review (or photo review) workbook refused whole, where a unit's wording would not fit.
REVIEW_FILE_MESSAGES: dict[str, str] = {
    C.FILE_SEVERAL_SHEETS: "工作簿中有多个工作表填有审核结论（{sheets}），无法确定以哪一个为准，本文件的审核结论"
                           "一条也未采用。请只在“{sheet}”工作表中填写审核结论，删去其余工作表（或清空其中的审核结论）"
                           "后重新放入 inbox/_centre/。",
}


def review_file_message(code: str, params: Mapping[str, Any]) -> str:
    """Chinese reason for a decisions file refused whole (exchange.review.decisions)."""
    template = REVIEW_FILE_MESSAGES.get(code) if params.get("decisions") else None
    return _safe(template, _phrased(params)) if template else file_message(code, params)


# ---- Submission, review and documents (issue 6) -------------------------------------------------
# Review decisions: centre receipts and the error log (codes in exchange.codes, REVIEW_*).
REVIEW_MESSAGES: dict[str, str] = {
    C.REVIEW_SERIAL_INVALID: "「业务流水号」“{value}”不是有效的流水号（应为正整数）。",
    C.REVIEW_SERIAL_UNKNOWN: "业务流水号 {serial} 不存在。",
    C.REVIEW_NOT_IN_BATCH: "业务流水号 {serial} 不属于批次 {batch}，不能在本审核工作簿中审核。",
    C.REVIEW_NOT_SUBMITTED: "业务流水号 {serial} 的申报当前为“{status}”，只有已提交的申报才能审核。",
    C.REVIEW_CONFLICT: "业务流水号 {serial} 已于 {decided_at} 审核为“{status}”，不能再改为“{conclusion}”。"
                       "如确需更正，请让单位重新申报。",
    C.REVIEW_REASON_REQUIRED: "业务流水号 {serial} 审核结论为“不通过”，必须填写不通过原因。",
    C.REVIEW_CONCLUSION_UNKNOWN: "「审核结论」“{value}”无法识别，请填写“通过”或“不通过”。",
    C.REVIEW_REJECTED: "审核不通过：{reason}",
    C.REVIEW_MISMATCH: "业务流水号 {serial} 是 {person} 的申报，但本行填的人员是 {row_person}，两者不一致，"
                       "本行不作审核。请核对本行的业务流水号、身份证号和姓名（只对部分列排序会使各列错位；"
                       "也请确认工作簿是本系统下发的）。",
}
ROW_MESSAGES.update(REVIEW_MESSAGES)
# A row whose own 批次号 is not the workbook's (its _meta): never decided, whatever batch the
# serial is in.
ROW_MESSAGES_WITH[C.REVIEW_NOT_IN_BATCH] = {
    "row_batch": "业务流水号 {serial} 所在行的批次号为 {row_batch}，而本审核工作簿是批次 {batch} 的，"
                 "本行不作审核。请在该批次自己的审核工作簿中审核。",
}

# 审核结论 as the back office may write it: code -> (label, aliases...).  # input grammar
CONCLUSIONS: dict[str, tuple[str, ...]] = {
    "approved": ("通过", "审核通过", "同意", "准予", "是", "y", "yes"),
    "rejected": ("不通过", "审核不通过", "不同意", "退回", "驳回", "否", "n", "no"),
}
UNDECIDED_LABEL = "未处理"

# The review workbook (centre), the result workbook (unit): one header word per field.
REVIEW_HEADERS: dict[str, str] = {
    "seq": "序号",
    "batch_no": "批次号",
    "serial": "业务流水号",
    "kind": "业务类型",
    "unit_code": "单位编号",
    "id_number": "身份证号",
    "name": "姓名",
    "content": "申报内容",
    "old": "原值",
    "file_row": "原文件及行号",
    "submitted_at": "提交时间",
    "conclusion": "审核结论",
    "reason": "不通过原因",
    "reviewer": "审核人",
    "decided_at": "审核时间",
}
REVIEW_WORDS = {
    "review_sheet": "审核",
    "review_title": "{centre}审核工作簿  批次号：{batch}  单位编号：{unit}  单位名称：{unit_name}  提交时间：{submitted}  共 {count} 条",
    "review_note": "请在“审核结论”列选择“通过”或“不通过”，不通过的必须填写原因；填好后把本工作簿（或同列的 CSV）放入中心收件箱 inbox/_centre/。同一结论重复报送无影响，相矛盾的结论会被拒绝。",
    "result_sheet": "审核结果",
    "result_title": "审核结果  批次号：{batch}  单位编号：{unit}  单位名称：{unit_name}  通过 {approved} 条，不通过 {rejected} 条，未处理 {undecided} 条",
    "result_note": "不通过的申报已另附“退回修改”模板（同一文件夹），按审核意见修改后放回收件箱即可重新申报。",
    "fix_reason_header": "审核意见（不通过原因）",
    "fix_note": "以下为审核不通过的申报（批次号 {batch}），请按“审核意见”修改后，把本工作簿放回收件箱重新申报。",
    "kind_review": "审核工作簿",
    "change_arrow": "{old}→{new}",
    "field_value": "{header}：{value}",
    "joiner": "；",
    "file_row": "{file} 第 {row} 行",
    "receipt_summary": "批次 {batch}：通过 {approved} 条，不通过 {rejected} 条，重复报送 {repeated} 条，拒绝 {refused} 条，未填写结论 {undecided} 条。",
    "receipt_summary_nobatch": "通过 {approved} 条，不通过 {rejected} 条，重复报送 {repeated} 条，拒绝 {refused} 条，未填写结论 {undecided} 条。",
    "mismatch_person": "{name}（身份证号 {id}）",
    "mismatch_no_id": "空",
    "receipt_hidden": "第 {rows} 行在工作表中被隐藏（如被筛选掉），未作为审核结论读取；如要审核这些行，请取消筛选或隐藏后重新放入。",
}
# Output file names: <batch>.申报花名册.pdf, <batch>.审核.xlsx, <batch>.审核结果.xlsx ...
DOC_NAMES = {
    "batch_roster": "{batch}.申报花名册.pdf",
    "review_book": "{batch}.审核.xlsx",
    "result_book": "{batch}.审核结果.xlsx",
    "fix_template": "{batch}.{title}.退回修改.xlsx",
    "template": "{unit}_{title}.xlsx",
    "monthly_roster": "{month}.{title}.pdf",
    "unit_report": "{stamp}.{title}.pdf",
    "error_log_book": "{stamp}.错误日志.xlsx",
    "digest": "{day}.每日汇总.pdf",
}

# Templates (exchange templates): title row, instructions sheet, drop-down lists.
TEMPLATE_WORDS: dict[str, Any] = {
    "title": "{title}  单位编号：{unit}  单位名称：{unit_name}",
    "help_sheet": "说明",
    "lists_sheet": "代码表",
    "help_title": "{title} 填写说明（单位编号：{unit}，模板版本 {version}）",
    "help_header": ("列名", "是否必填", "填写规则"),
    "required_yes": "必填",
    "required_no": "选填",
    "default": "不填时默认为“{value}”。",
    "protected": "系统记录，已锁定，请勿改动。",
    "example": "例如：{value}。",
    "max_length": "最多 {limit} 个字。",
}
# One rule line per column type, shown in the instructions sheet.
COLUMN_RULES = {
    "id": "18位居民身份证号码，末位为字母时填大写 X。本列已设为文本格式。",
    "name": "与身份证一致；姓名中不能有空格、数字或符号，少数民族姓名中间的点写作“·”。",
    "code": "从下拉列表选择；可填代码、名称或“代码-名称”，例如：{examples}。",
    "codes": "可填多个，用逗号分隔；每项可填代码、名称或“代码-名称”，例如：{examples}。",
    "month": "年月，格式 YYYYMM，例如 201607（也可写 2016-07、2016年7月）。",
    "date": "日期，格式 YYYY-MM-DD，例如 2016-07-01。",
    "wage": "整数（元），不保留小数；须在对应月份缴费基数上下限之内（目前下限 {low}，上限 {high}）。",
    "text": "文字。",
    "phone": "手机号11位，或固定电话（可带区号和“-”）。",
    "postcode": "6位数字邮政编码。",
    "serial": "业务流水号（见回执或审核结果），正整数。",
    "class": "班级编号。",
    "id_type": "证件类型，从下拉列表选择。",
    "amount": "金额（元），不小于0，最多两位小数。",
    # issue 17: money
    "rate": "费率，小于1，如 0.08 或 8%（最多六位小数）。",
    "year": "四位年份，如 2026。",
}

# PDF rosters.
ROSTER_WORDS = {
    "seq": "序号",
    "page_subtotal": "本页小计",
    "total": "合计",
    "persons": "共 {count} 人",
    "page": "第 {page} 页  共 {pages} 页",
    "unit_code": "单位编号：{value}",
    "unit_name": "单位名称：{value}",
    "batch": "批次号：{value}",
    "month": "申报月份：{value}",
    "period": "统计期间：{value}",
    "as_of": "截至：{value}",
    "submitted": "提交时间：{value}",
    "made_on": "制表日期：{value}",
    "stamp": "申报单位（盖章）：",
    "head": "申报单位负责人：",
    "maker": "制表人：",
    "checker": "复核人：",
    "filler": "--",
    "batch_title": "{centre}{label}申报花名册",
    "section": "{label}（{count} 人）",
    "serial": "业务流水号",
    "stop_date": "减少时间",
    "old_wage": "原缴费基数",
    "change_items": "修改项目",
    "old_value": "原值",
    "new_value": "修改值",
    "insured": "参保",
    "not_insured": "未参保",
    "insured_from": "参保年月",
    "wage_base": "缴费基数",
    "next_base": "待执行缴费基数",
    "paid_month": "最大缴费月份",
    "arrears": "欠费金额",
    "staff_no": "单位内部职工号",
    "person_no": "个人编号",
    "status": "参保状态",
    "insurances": "参保险种",
    "decision": "审核结论",
    "time": "时间",
    "row": "行号",
    "column": "列名",
    "code": "错误代码",
    "message": "原因",
    "kind": "业务类型",
    "file": "文件",
    "empty": "（无记录）",
    "items": "共 {count} 条",
    "units": "共 {count} 个单位",
    "unit_arrears": "单位欠费：{value} 元",
}
ROSTER_TITLES = {
    "employee_add": "{centre}职工增加申报花名册",
    "employee_stop": "{centre}职工减少申报花名册",
    "wage": "{centre}职工缴费基数申报花名册",
    "insured": "{centre}单位人员参保花名册",
    "wage_base": "{centre}单位人员当前缴费基数花名册",
    "dues": "{centre}单位应缴信息",
    "errors": "{centre}错误日志",
    "digest": "{centre}每日汇总",
    "kind_roster": "{centre}{label}花名册",
}
# File-name titles of the monthly rosters and unit reports.
REPORT_NAMES = {
    "employee_add": "职工增加申报花名册",
    "employee_stop": "职工减少申报花名册",
    "wage": "职工缴费基数申报花名册",
    "insured": "参保花名册",
    "wage_base": "当前缴费基数花名册",
    "dues": "应缴信息",
    "errors": "错误日志",
}
DIGEST_HEADERS = {
    "unit_code": "单位编号",
    "unit_name": "单位名称",
    "files": "收到文件",
    "rows_ok": "成功行",
    "rows_failed": "失败行",
    "imported": "新申报",
    "batches": "提交批次",
    "submitted": "提交申报",
    "approved": "审核通过",
    "rejected": "审核不通过",
    "waiting": "待审核",
    "photos_waiting": "待审核照片",
}
# ---- end of issue 6 section ---------------------------------------------------------------------

# ---- issue 4 section: communities and schools ---------------------------------------------------
ROW_MESSAGES.update({
    C.HOUSEHOLD_EXISTS: "户主（{head}）已经登记。如需更改户主姓名或联系电话，请把「操作」填为“修改”。",
    C.CLASS_OUT_OF_SCOPE: "本账号只能为所辖班级（{allowed}）申报：{what}（{value}）。",
    C.CLASS_UNKNOWN: "「{column}」“{value}”不是本校的班级，请核对班级编号。",
    C.CLASS_SAME: "「{column}」“{value}”就是该学生现在所在的班级，无需转班。",
    C.CLASS_EMPTY: "班级“{value}”没有在本单位参保的学生，无法办理班级停保。",
    C.NOTE_CLASS_STOP: "班级停保：班级“{class_code}”的 {count} 名在保学生一并暂停参保。",
    C.NOTE_PHOTO_SAVED: "照片“{value}”已按 {width}×{height} 规格保存，等待医保中心审核。",
    C.NOTE_PHOTO_SAME: "照片“{value}”与已保存的照片相同，无需重复审核。",
    C.NOTE_HOUSEHOLD_DONE: "户主（{head}）{operation}已生效（户主信息是登记信息，无需审核）。",
    C.NOTE_WHOLE_STAFF: "注意：本文件为本单位全部 {count} 名在职参保人员办理了{kind}。如果这不是本意"
                        "（例如把预填的模板原样报送了），请在提交前用业务回退表撤回不办理的人员。",
    C.NOTE_STOP_MONTH: "本文件减少的 {count} 人缴费至 {paid_to}，自 {stops}起停保（停保时间按申报的当月确定，"
                       "不能另行指定；医保中心审核通过后生效）。",
    C.NOTE_IGNORED_COLUMNS: "注意：{columns}不是{title}的列，其中填写的内容没有导入（{count} 行有内容，"
                            "如第 {first} 行）。如需办理这些内容，请使用相应的申报表。",
})
# `{what}` of class.out_of_scope.
PHRASES.update({
    "scope_class": "本行的班级不在所辖范围内",
    "scope_student": "该学生所在的班级不在所辖范围内",
    "scope_unassigned": "该学生没有班级记录，不在所辖范围内",
    "scope_no_class": "该业务不属于任何班级，班级或系账号不能申报",
    "no_classes": "无",
})
# The student a class-wide finding (班级停保) is about, in place of the kind's label.
CLASS_MEMBER = "{label}（学生 {name} {id}）"
PHOTO_WORDS = {
    "kind_label": "照片上传",
    "column": "照片文件名",
}

# The centre's photo review (exchange.review.photos): review and result workbooks, receipts.
ROW_MESSAGES.update({
    C.REVIEW_PHOTO_INVALID: "「照片编号」“{value}”不是有效的编号（应为正整数）。",
    C.REVIEW_PHOTO_UNKNOWN: "照片编号 {photo} 不存在。",
    C.REVIEW_PHOTO_NOT_IN_REVIEW: "照片编号 {photo} 不在审核单 {review} 中，不能在本工作簿中审核。",
    C.REVIEW_PHOTO_SUPERSEDED: "照片编号 {photo} 已被该人员新上传的照片取代，无需审核；新照片会出现在下一张审核单中。",
    C.REVIEW_PHOTO_CONFLICT: "照片编号 {photo} 已于 {decided_at} 审核为“{status}”，不能再改为“{conclusion}”。"
                             "如确需更正，请让单位重新上传照片。",
    C.REVIEW_PHOTO_REASON_REQUIRED: "照片编号 {photo} 审核结论为“不通过”，必须填写不通过原因。",
    C.REVIEW_PHOTO_REJECTED: "照片审核不通过：{reason}。请重新拍摄后上传。",
})
ROW_MESSAGES_WITH[C.REVIEW_PHOTO_NOT_IN_REVIEW] = {
    "row_review": "照片编号 {photo} 所在行的审核单号为 {row_review}，而本工作簿是审核单 {review} 的，"
                  "本行不作审核。请在该审核单自己的工作簿中审核。",
}
PHOTO_STATUS_LABELS = {
    "pending": "待审核",
    "approved": "审核通过",
    "rejected": "审核不通过",
    "superseded": "已被新照片取代",
}
PHOTO_REVIEW_HEADERS: dict[str, str] = {
    "seq": "序号",
    "review_no": "审核单号",
    "photo_id": "照片编号",
    "id_number": "证件号码",
    "name": "姓名",
    "class_code": "班级编号",
    "source_name": "原文件名",
    "uploaded_at": "上传时间",
    "photo": "照片",
    "conclusion": "审核结论",
    "reason": "不通过原因",
    "reviewer": "审核人",
    "decided_at": "审核时间",
}
PHOTO_REVIEW_WORDS = {
    "review_sheet": "照片审核",
    "review_title": "{centre}照片审核单  审核单号：{review}  单位编号：{unit}  单位名称：{unit_name}  共 {count} 张",
    "review_note": "请逐张查看照片，在“审核结论”列选择“通过”或“不通过”，不通过的必须填写原因（如：背景不是白色、面部不清晰）；"
                   "填好后把本工作簿（或同列的 CSV）放入中心收件箱 inbox/_centre/。同一结论重复报送无影响，相矛盾的结论会被拒绝。",
    "missing_photo": "（照片文件缺失）",
    "result_sheet": "照片审核结果",
    "result_title": "照片审核结果  审核单号：{review}  单位编号：{unit}  单位名称：{unit_name}  "
                    "通过 {approved} 张，不通过 {rejected} 张，未处理 {undecided} 张",
    "result_note": "不通过的照片请按“不通过原因”重新拍摄，以“证件号码.jpg”命名后放入收件箱（inbox）重新上传。",
    "kind_photo_review": "照片审核单",
    "receipt_summary": "审核单 {review}：通过 {approved} 张，不通过 {rejected} 张，重复报送 {repeated} 张，"
                       "拒绝 {refused} 张，未填写结论 {undecided} 张。",
    "receipt_summary_noreview": "通过 {approved} 张，不通过 {rejected} 张，重复报送 {repeated} 张，"
                                "拒绝 {refused} 张，未填写结论 {undecided} 张。",
}
DOC_NAMES.update({
    "photo_review_book": "{review}.照片审核.xlsx",
    "photo_result_book": "{review}.照片审核结果.xlsx",
})
# ---- end of issue 4 section ---------------------------------------------------------------------

# ---- issue 18 section: accounts a school runs, classes, kinds by unit type ---------------------
FILE_MESSAGES.update({
    C.FILE_KIND_NOT_ALLOWED: "本单位（{unit_type}）不能报送“{title}”，该业务只适用于：{allowed}。"
                             "请使用本单位发件箱 templates 文件夹中下发的模板。",
})
PHRASES.update({"email": "应为电子邮箱地址，例如 hr@example.com",
                "class_code": "班级编号最多32个字符，不能含空格、逗号或斜杠；若 Excel 把它变成了日期或数字，"
                              "请把该列单元格格式设置为“文本”后重新录入，如 2024-01"})
COLUMN_RULES.update({"email": "电子邮箱地址，例如 hr@example.com。"})
ROW_MESSAGES.update({
    C.CLASS_ADMIN_ONLY: "系或班级账号只能修改本账号所管班级的班级名称（年级、院系请留空）；"
                        "添加班级、修改年级或院系须由学校管理员（学校本身的账号）报送。",
    C.NOTE_CLASS_SAVED: "班级“{class_code}”（{name}）{operation}（班级信息是登记信息，无需审核）。",
})
PHRASES.update({"class_added": "已新增", "class_renamed": "已更新"})
TEMPLATE_WORDS.update({"classes": "本校班级：{classes}。"})
ROW_MESSAGES.update({
    C.ACCOUNT_TAKEN: "登录名“{value}”{why}，请换一个登录名。",
    C.ACCOUNT_UNKNOWN: "本校没有{why}的用户“{value}”，无法{operation}。",
    C.ACCOUNT_BEYOND: "本账号只能维护与本账号同级或下级、且在所辖班级（{allowed}）内的用户：{what}。",
    C.ACCOUNT_ONE_CLASS: "班级用户只能对应一个班级，本行填了 {count} 个（{value}）；管理多个班级请把角色填为“系”。",
    C.NOTE_ACCOUNT_DONE: "用户“{login}”{operation}成功（角色：{role}，所辖班级：{classes}）{password}。",
})
PHRASES.update({
    "login_in_use": "已被使用",
    "login_deleted": "曾被注销，注销的登录名不能再次使用",
    "login_is_unit": "是单位编号",
    "active": "",
    "deleted_before": "在用（该用户已注销）",
    "beyond_role": "不能维护比本账号级别高的用户",
    "beyond_classes": "班级超出所辖范围",
    "beyond_self": "不能注销本账号自己",
    "login": "登录名只能由字母、数字、“.”和“-”组成，最多64个字符",
    "password_initial": "，初始密码为系统默认密码，首次登录后请修改",
    "none": "无",
})
# Why a login is refused before its password is checked (exchange.accounts.login_refusal); the
# SFTP log names the reason; Changchun: 本系已被删除，请相关部门联系.
LOGIN_REFUSALS = {
    "department_deleted": "本系已被删除，请相关部门联系",
    "account_deleted": "该账号已注销，请联系学校管理员",
}
# 学校学生查询 (unit reports of a school): a section per class, then the classes' summary.
ROSTER_TITLES.update({"school_students": "{centre}学校学生查询"})
REPORT_NAMES.update({"school_students": "学校学生查询"})
ROSTER_WORDS.update({
    "class": "班级：{code} {name}  年级：{grade}  院系：{department}",
    "no_class": "未分班",
    "class_code": "班级编号",
    "class_name": "班级名称",
    "grade": "年级",
    "department": "院系",
    "class_count": "参保人数",
    "classes_count": "共 {count} 个班级",
})
# 班级停保 in the review and result workbooks: the class row, then one row per pupil it stops.
REVIEW_WORDS.update({
    "class_stop_name": "全班 {count} 人",
    "class_member": "随业务流水号 {serial} 班级停保（班级 {class_code}），审核结论以该流水号为准",
    "persons_title": "  涉及 {persons} 人",
})
# ---- end of issue 18 section --------------------------------------------------------------------
# ---- issue 15 / 21 section: text that cannot travel, business-rule gaps -----------------------
ROW_MESSAGES.update({
    C.TEXT_CONTROL: "「{column}」中含有看不见的控制字符（{char}），常见于从网页、聊天软件或其他系统复制粘贴的内容。"
                    "请删除该单元格内容后重新录入，再报送。",
    C.DECLARATION_KIND_MISMATCH: "业务流水号 {serial} 的业务类型是“{actual}”，与本行填写的“{stated}”不一致，"
                                 "未回退。请核对业务流水号和业务类型。",
    C.FORMULA_ERROR: "「{column}」显示的是公式的错误值“{value}”（公式没有算出结果），"
                     "请改正公式或直接填写内容后重新报送。",
    C.FORMULA_UNSAVED: "「{column}」是公式，但文件里没有保存公式算出的结果（文件由其他程序生成，"
                       "未经 Excel 或 WPS 保存），无法知道它的内容。请用 Excel 或 WPS 打开文件、"
                       "保存后重新报送，或直接填写内容。",
})
# person.not_on_file in the words of who reads it: an employer adding staff where the region
# requires registration first; a unit stopping or changing someone it has no record of; a
# community or school suspending or moving a resident (no counter visit: the resident kinds).
PHRASES.update({
    "who_person": "人员",
    "who_resident": "居民",
    "record_basic": "基本信息",
    "record_insured": "参保记录",
    "advice_register": "新参保人员请先到医保经办窗口办理基本资料登记。",
    "advice_check": "请核对证件号码和姓名；不在本单位参保的人员无法办理此项业务。",
    "advice_resident": "请核对证件号码和姓名；尚未参保的居民请先报送城乡居民参保申报表。",
    # …already insured here (person.already_insured): what to do instead.
    "already_employee": "无需再办理增加。",
    "already_resident": "无需再次参保登记；信息有变请报送城乡居民变更申报表。",
    "already_student": "无需再次参保登记；换班请报送学生转班表，信息有变请报送城乡居民变更申报表。",
})
# The centre's digest: registrations (households, no review) apart from declarations.
DIGEST_HEADERS["registered"] = "登记"
# Template instructions, put together from what the template has (outputs/templates.py).
TEMPLATE_NOTE = {
    "required": "带 * 的列为必填项；",
    "lists": "有下拉箭头的列请从列表选择；",
    "locked": "灰色列为系统记录，已锁定，请勿改动；",
    "prefilled": "本表已预填本单位在职参保人员（共 {count} 人），不办理的人员请整行删除（隐藏或筛选掉的行不读取，回执会列出）；",
    "prefilled_resident": "本表已预填本单位参保居民（共 {count} 人），不办理的人员请整行删除（隐藏或筛选掉的行不读取，回执会列出）；",
    "help": "详细填写规则见“说明”工作表。",
}
TEMPLATE_GENERAL = {          # numbered in order on the 说明 sheet, only those that apply
    "required": "带 * 的列为必填项。",
    "headers": "表头和标题行请勿改动，也不要删除隐藏的工作表（系统靠它识别模板）。",
    "text_ids": "身份证号等号码列已设置为文本格式，请直接录入或粘贴为“值”，不要改成数值格式，否则末几位会丢失。",
    "lists": "代码列可填代码、名称或“代码-名称”，建议从下拉列表选择。",
    "send": "填好后把本工作簿直接放入本单位收件箱（inbox）；几分钟后发件箱（outbox）会有回执，失败的行会附错误工作簿。",
    "again": "已成功导入的行再次报送不会重复导入。",
    "prefilled_locked": "本表已预填本单位在职参保人员，灰色列已锁定。不办理的人员请整行删除："
                        "在“审阅”菜单中点击“撤销工作表保护”（无需密码），删除整行后保存即可。"
                        "隐藏或筛选掉的行不读取，回执中会列出它们的行号。",
    "prefilled": "本表已预填本单位在职参保人员。不办理的人员请整行删除后保存即可；隐藏或筛选掉的行不读取，回执中会列出它们的行号。",
    # Resident kinds (communities, schools): the people are insured residents or pupils, not staff.
    "prefilled_locked_resident": "本表已预填本单位参保居民（学校为在校参保学生），灰色列已锁定。不办理的人员请整行删除："
                                 "在“审阅”菜单中点击“撤销工作表保护”（无需密码），删除整行后保存即可。"
                                 "隐藏或筛选掉的行不读取，回执中会列出它们的行号。",
    "prefilled_resident": "本表已预填本单位参保居民（学校为在校参保学生）。不办理的人员请整行删除后保存即可；"
                          "隐藏或筛选掉的行不读取，回执中会列出它们的行号。",
}
# A receipt whose file's name could not be used as it was (exchange/names.py).
RENAMED_NOTE = ("（原文件名含有看不见的字符、易混淆的斜杠或过长，回执、错误工作簿和归档使用上面的文件名；"
                "原文件名见 JSON 回执的 file 项。）")
# A withdraw file's receipt: its accepted rows withdrew declarations, nothing awaits submission.
WITHDRAWN_HINT = "成功的行对应的申报已回退（状态为“已回退”），不会提交医保中心审核。"
# ---- end of issue 15 / 21 section ---------------------------------------------------------------
# ---- SFTP door and passwords a unit sets itself (issues 15.5, 18.1, 21) -------------------------
# SFTP status messages (WinSCP and FileZilla show them) and keyboard-interactive prompts (every
# client shows them; the English half is for terminals without a Chinese locale).
SFTP_WORDS = {
    "name_not_utf8": "文件名不是 UTF-8 编码，无法接收：请在客户端把文件名编码设为 UTF-8"
                     "（WinSCP：高级 → 环境 → SFTP → 文件名使用 UTF-8 编码：开）后重新上传。",
    "too_large": "文件超过 {mb} MB 的上限，未接收：请拆分成多个文件后上传。 "
                 "The file is over the {mb} MB limit.",
    "inbox_full": "收件箱中等待处理的文件已达 {mb} MB 的上限，本文件未接收：请等已上传的文件处理完"
                  "（回执生成）后再上传。 Your inbox is full ({mb} MB waiting): "
                  "upload again once the files sent are processed.",
    "disk_full": "服务器存储空间不足，暂时无法接收文件，请稍后再试或联系医保中心。 "
                 "The server is short of disk space; try again later.",
}
PASSWORD_WORDS = {
    "instruction": "请输入密码。 Enter your password.",
    "must_change": "初始密码或已重置的密码必须修改后才能使用。 Your password must be changed now.",
    "expired": "密码已过期，请设置新密码。 Your password has expired; choose a new one.",
    "current": "密码 Password: ",      # "assword:" is what sshfs's password_stdin waits for
    "new": "新密码 (new password): ",
    "again": "再次输入新密码 (new password again): ",
    "mismatch": "两次输入的新密码不一致，请重新输入。 The two new passwords differ.",
    "too_short": "新密码至少 {n} 位。 The new password needs at least {n} characters.",
    "is_default": "新密码不能是初始密码。 The new password cannot be the initial one.",
    "is_login": "新密码不能与用户名或单位编号相同。 The new password cannot be the login or unit code.",
    "same": "新密码不能与原密码相同。 The new password must differ from the current one.",
    "changed": "密码已修改。 Password changed.",
}
# ---- end of SFTP door section -------------------------------------------------------------------
# ---- issue 17 section: money (rates, amounts due, payments, statistics) ------------------------
ROSTER_WORDS.update({
    "due_person": "个人应缴",
    "due_unit": "单位应缴",
    "due_total": "应缴合计",
    "due_person_month": "个人应缴（月）",
    "due_unit_month": "单位应缴（月）",
    "due_total_month": "应缴合计（月）",
    "due_year": "年度应缴",
    "period_due": "费款所属期",
    "insurance_type": "险种类型",
    "due_count": "应缴人数",
    "due_person_amount": "个人应缴金额",
    "due_unit_amount": "单位应缴金额",
    "due_total_amount": "应缴总金额",
    "arrears_loaded": "欠费金额（中心）",
    "arrears_computed": "计算欠费",
    "category": "人员类别",
    "contribution": "个人缴费标准",
    "subsidy": "资助金额",
    "class_code": "班级编号",
    "insured_count": "参保人数",
    "paid_amount": "已缴金额",
    "unpaid": "未缴金额",
    "registration_item": "类别",
    "count": "人数",
    "amount_due": "应缴金额",
    "due_month": "缴费年月：{value}",
    "due_year_info": "居民缴费年度：{value}",
    "collection": "集中征缴期：{start} 至 {end}（缴纳{which}年度）",
    "next_year": "下一",
    "this_year": "当",
    "reg_new": "新参保（新登记）",
    "reg_renewal": "续保（已保）",
    "reg_transfer_in": "调入",
    "reg_suspended": "暂停参保",
    "reg_employee_add": "职工增加（月应缴）",
    "reg_employee_stop": "职工减少",
    "reg_insured": "当前参保人数",
    "unit_type": "单位类型",
    "unit_count": "单位数",
    "month_due": "本月职工应缴",
    "year_due": "本年居民应缴",
    "insurance": "险种",
    "due_insurance_month": "本月应缴",
    "insurance_paid_month": "该险种最大缴费月份",
    "due_unpaid": "欠缴月份应缴",
    "paid_unpaid": "已缴（欠缴月份）",
})
ROSTER_TITLES.update({
    "dues_units": "{centre}单位应缴信息",
    "dues_persons": "{centre}单位职工应缴信息",
    "dues_residents": "{centre}单位居民应缴信息",
    "dues_insurances": "{centre}单位职工分险种应缴信息",
    "registration": "{centre}登记情况",
    "class_payments": "{centre}班级缴费统计",
    "digest_money": "{centre}应缴汇总（按单位类型）",
})
REPORT_NAMES.update({
    "registration": "登记情况",
    "class_payments": "缴费统计",
})
DOC_NAMES.update({
    "registration_book": "{stamp}.登记情况.xlsx",
})
# ---- end of issue 17 section --------------------------------------------------------------------

# ---- issue 16: the unit's view (exchange/view/) --------------------------------------------------
VIEW_NAMES = {"status_book": "申报状态.xlsx", "people_book": "参保人员.xlsx"}
VIEW_SHEETS = {
    "summary": "汇总",
    "pending": "待提交",
    "submitted": "已提交待审核",
    "decided": "审核结果",
    "withdrawn": "已回退",
    "people": "参保人员",
    "heads": "户主列表",
}
VIEW_HEADERS = {
    "serial": "业务流水号",
    "kind": "业务类型",
    "id_number": "证件号码",
    "name": "姓名",
    "enrolment": "参保类型",
    "class_code": "班级编号",
    "content": "申报内容",
    "file": "来源文件",
    "row": "行号",
    "sender": "申报账号",
    "created": "导入时间",
    "batch": "批次号",
    "submitted": "提交时间",
    "conclusion": "审核结论",
    "reason": "不通过原因",
    "reviewer": "审核人",
    "decided": "审核时间",
    "withdrawn": "回退时间",
    "person_no": "个人编号",
    "sex": "性别",
    "birth_date": "出生日期",
    "status": "参保状态",
    "insurances": "参保险种",
    "wage_base": "缴费基数",
    "next_base": "待执行缴费基数",
    "insured_from": "参保开始年月",
    "stopped_after": "停保年月",
    "last_paid_month": "最大缴费月份",
    "arrears_loaded": "欠费金额（中心）",
    "arrears_computed": "计算欠费",
    "head_id": "户主身份证号",
    "head_name": "户主姓名",
    "phone": "联系电话",
    "members": "参保人数",
    "total": "合计",
    "notice_date": "日期",
    "notice_file": "通知文件（outbox/notices/）",
}
VIEW_WORDS = {
    "status_title": "{code} {name} 申报状态（更新于 {time}）",
    "people_title": "{code} {name} 参保人员（更新于 {time}，共 {count} 人）",
    "scope": "账号 {login} 只看本账号的班级：{classes}",
    "pending": "当前有 {count} 条待提交",
    "pending_none": "当前没有待提交的申报",
    "submitted": "{count} 条已提交，等待医保中心审核",
    "rejected": "{count} 条审核不通过，可修改后重新申报（最近 {days} 天；不通过原因见“审核结果”表）",
    "next_step": "提交方式：{way}",           # NEXT_STEP_WORDS, as the receipt says it
    "counts": "各业务类型、各状态的条数",
    "window": "“审核结果”表列出最近 {days} 天审核的申报",
    "notices": "最近的通知",
    "no_notices": "暂无通知",
    "rows_cut": "（只列出 {shown} 条，共 {count} 条）",
    # A base declared for a later month, beside the one in force (参保人员, 当前缴费基数花名册).
    "next_base": "{base}（{month}起）",
}


def next_base(base: int | None, month: str) -> str:
    """A base declared for a later month: 8800（2027年1月起）."""
    return VIEW_WORDS["next_base"].format(base=base, month=month_label(month))


# ---- end of issue 16 section --------------------------------------------------------------------
# ---- issue 16.4 / 16.5 section: notices, submission on the unit's word -------------------------
# What happens to the pending declarations, after RECEIPT_WORDS["pending_hint"] (issue 21.16).
# How pending declarations get submitted (exchange.view.confirm.submission_way): the receipt's
# next step and the status book's 提交方式 line both say it in these words.
NEXT_STEP_WORDS = {
    "confirm": "由单位确认提交（请核对待提交清单后确认提交）",
    "nightly": "将于 {when} 自动提交医保中心审核",
    "centre": "由医保中心统一提交审核（未设定自动提交时间）",
    "when": "{month}月{day}日 {time}",
}
RECEIPT_WORDS.update({
    "pending_next": "，{way}{how}；提交前可用业务回退表撤回。",
    "confirm_how": "：不会自动提交，请下载待提交清单（outbox/status/待提交清单.xlsx），"
                   "确认人数和金额无误后在“确认提交”处填“是”，放回收件箱即提交医保中心审核",
    "submitted": "清单所列申报已提交医保中心审核，批次号 {batch}，共 {count} 条。",
})
FILE_MESSAGES.update({
    C.SUBMIT_NOT_ON_WORD: "本地区的待提交申报由系统于 {when} 自动提交，无需单位确认提交。",
    C.SUBMIT_STALE: "该待提交清单（编号 {token}）已过期：生成清单后待提交的申报有变化（新导入或业务回退），"
                    "现在的清单编号是 {current}。请下载最新的待提交清单（outbox/status/待提交清单.xlsx）核对后再确认提交。"
                    "本次没有提交任何申报。",
    C.SUBMIT_NOT_CONFIRMED: "待提交清单的“确认提交”填的是“{value}”，不是“是”：本次没有提交任何申报。"
                            "核对无误后把“确认提交”改为“是”，再放回收件箱。",
    C.SUBMIT_NO_TOKEN: "提交确认文件应只有一行，写上待提交清单的清单编号（如：确认提交 {current}）。本次没有提交任何申报。",
    C.SUBMIT_NOTHING: "清单中没有待提交的申报，本次没有提交任何申报。",
    C.NOTICE_NO_ADDRESS: "通知没有写明收件单位。请在文件名前加上收件范围，如“[全部]通知.pdf”、"
                         "“[类型30]通知.pdf”（单位类型）或“[1001,1002]通知.pdf”（单位编号）；"
                         "文本通知也可在第一行写“收件单位：全部”。通知未发送。",
    C.NOTICE_UNKNOWN_UNITS: "收件范围中的 {units} 不是已登记的单位或单位类型，通知未发送。请改正后重新放入。",
    C.NOTICE_UNSAFE: "通知只能是 .txt、.pdf 或 .xlsx 文件，且内容与扩展名一致（{what}）。通知未发送。",
    C.NOTICE_EMPTY: "通知没有内容，未发送。",
})
PHRASES.update({
    "notice_type": "文件类型不是 .txt、.pdf 或 .xlsx",
    "notice_content": "文件内容与扩展名不符",
    "notice_size": "文件超过大小上限",
    "notice_text": "文本通知应为 UTF-8 或 GB18030 编码",
})
ROW_MESSAGES.update({
    C.SUBMIT_NOT_LISTED: "业务流水号 {serial} 不在本清单生成时的待提交申报中，未提交。",
    C.NOTE_SUBMITTED: "已提交，批次号 {batch}。",
})
NOTICE_WORDS = {
    "all": "全部",
    "address_line": "收件单位",
    "type_prefix": "类型",
    "numbered": "（{n}）",        # a second notice of one name on one day: 20261205-通知（2）.pdf
}
CONFIRM_WORDS = {
    "title": "{centre}待提交清单",
    "unit": "单位编号：{code}    单位名称：{name}",
    "made": "生成时间：{at}    清单编号：{token}",
    "kind_label": "待提交清单（确认提交）",
    "sheet": "待提交清单",
    "serial": "业务流水号",
    # Not 业务类型 / 证件号码: a list copied into a new workbook (its _meta lost) must never read
    # as a 业务回退表 (业务流水号 + 证件号码 + 业务类型) and withdraw what it lists.
    "kind": "申报类型",
    "id_number": "人员证件号",
    "name": "姓名",
    "values": "申报内容",
    "period": "费款所属期",
    "due": "应缴金额（元）",
    "file_row": "来源文件及行号",
    "created": "导入时间",
    "count": "合计人数",
    "amount": "合计应缴金额（元）",
    "confirm": "确认提交",
    "token": "清单编号",
    # Above the table: no kind's hint words (rules/kinds/*.toml hints, e.g. 回退), so a list
    # copied without its _meta sheet is never taken for a kind.
    "how": "核对人数和金额无误后，把“确认提交”改为“是”，将本工作簿放回收件箱即提交医保中心审核。"
           "暂不提交的申报，删除其所在行即可（只提交留下的行）。"
           "也可以只放一个名为“提交确认.txt”的文件，内容一行：确认提交 {token}。"
           "清单生成后待提交的申报又有变化（新导入或撤回）时，本清单作废，请使用新清单。",
    "empty": "当前没有待提交的申报。",
    "blank": "（空）",
    "file_name": "待提交清单.xlsx",      # outbox/<unit>/status/
    "confirm_stem": "提交确认",          # 提交确认.txt sent back: one line naming the 清单编号
}
# ---- end of issue 16.4 / 16.5 section -----------------------------------------------------------
# ---- issue 16 section (items 3, 6): new enrolment vs renewal vs transfer-in --------------------
# What the system judged a resident enrolment to be, wherever the declaration appears.
ENROLMENT_LABELS = {"new": "新参保", "renewal": "续保", "transfer_in": "调入"}
ENROLMENT_WORDS = {
    "kind_label": "{label}（{enrolment}）",          # the kind column of review/result workbooks
    "column": "参保类型",                             # the roster's column
    "from_unit": "调入（原单位 {unit}）",
    "summary": "其中新参保 {new} 人，续保 {renewal} 人，调入 {transfer_in} 人。",
}
# How the query pages named the states, beside DECLARATION_STATUS_LABELS (`--state`).
STATUS_ALIASES = {"待审核": "submitted", "通过": "approved",
                  "不通过": "rejected", "回退": "withdrawn"}
ROSTER_TITLES["registration_months"] = "{centre}登记情况（按月）"
ROSTER_WORDS.update({"reg_month": "申报月份", "reg_months_info": "{start} 至 {end}，按申报（导入）时间统计"})
ROW_MESSAGES.update({
    C.NOTE_ENROLMENT_NEW: "新参保：无该人员的参保档案，按新参保登记。",
    C.NOTE_ENROLMENT_RENEWAL: "续保：本单位已有该人员的参保档案，按续保办理。",
    C.NOTE_ENROLMENT_TRANSFER_IN: "调入：该人员原在单位 {from_unit} 参保，按调入办理。",
})
# ---- end of issue 16 section --------------------------------------------------------------------

# ---- issue 16 item 6: the declarations query exported (导出Excel) ---------------------------------
DECLARATION_EXPORT = {
    "sheet": "申报查询",
    "headers": {"serial": "业务流水号", "unit": "单位编号", "kind": "业务类型", "id_number": "证件号码",
                "name": "姓名", "status": "状态", "enrolment": "参保类型", "batch_no": "批次号",
                "created_at": "申报时间", "submitted_at": "提交时间", "decided_at": "审核时间",
                "reason": "不通过原因", "reviewer": "审核人", "file": "原文件", "row": "行号"},
}
# ---- master data: unit codes and persons' units (exploratory test, r6 / r15) -------------------
ROW_MESSAGES.update({
    C.UNIT_CODE_INVALID: "「{column}」“{value}”不能用作单位编号：{why}。本行未导入。",
    C.UNIT_UNKNOWN: "「{column}」“{value}”不是已登记的单位，本行未导入。请先导入该单位的单位信息，"
                    "或核对单位编号。",
})
PHRASES.update({
    "unit_code_form": "单位编号只能由英文字母、数字、“-”和“_”组成（不含空格），以字母或数字开头，"
                      "最长 32 位",
    "unit_code_reserved": "这是系统保留的名称",
})
ROW_MESSAGES_WITH[C.UNIT_CODE_INVALID] = {
    "twin": "「{column}」“{value}”与已有的单位编号“{twin}”只是大小写不同，不能作为另一个单位导入；"
            "如是同一单位，请按“{twin}”填写。本行未导入。",
}
# ---- end of master data section -----------------------------------------------------------------
