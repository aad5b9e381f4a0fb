"""Every word a unit or the centre reads: code -> Chinese template with named placeholders.

Findings carry codes and facts; text is rendered here, at output time, so the receipt, the
error workbook and `validate --json` say the same thing.
"""
from __future__ import annotations

from typing import Any, Mapping

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
    C.PERSON_NOT_ON_FILE: "系统中没有该人员（{id}）的基本信息。新参保人员请先到医保经办窗口办理基本资料登记。",
    C.PERSON_NOT_INSURED_HERE: "该人员当前不在本单位参保，不能办理{kind_label}。",
    C.PERSON_INSURED_ELSEWHERE: "该人员当前在其他单位（{other_unit}）参保，请原单位先办理减少后再申报。",
    C.PERSON_PENDING: "该人员已有未审核完毕的申报（业务流水号 {serial}，{kind_label}，{status}），"
                      "审核结束前不能申报新业务。",
    C.ARREARS: "该人员存在欠费 {amount} 元，欠费结清前不能办理{kind_label}。",
    C.HOUSEHOLD_MISSING: "户主（{head}）尚未登记，请先报送户主信息表。",
    C.HOUSEHOLD_HAS_MEMBERS: "户主（{head}）名下还有 {members} 名参保人员，不能删除。",
    C.PHOTO_UNREADABLE: "照片“{value}”无法识别为图片，请用 JPG 或 PNG 格式。",
    C.PHOTO_TOO_SMALL: "照片“{value}”只有 {width}×{height} 像素，至少需要 {min_width}×{min_height} 像素。",
    C.PHOTO_UNKNOWN_PERSON: "照片“{value}”对应的证件号码不是本单位的参保人员。",
    C.PERSON_ALREADY_INSURED: "该人员已在本单位参保，无需再办理增加。",
    C.RECORD_MISMATCH: "「{column}」“{value}”与系统记录“{expected}”不一致，此列请勿改动。",
    C.NOTHING_TO_CHANGE: "本行没有填写任何要修改的内容。",
    C.DECLARATION_NOT_FOUND: "没有找到本单位可回退的申报（{what}）。",
    C.DECLARATION_NOT_PENDING: "业务流水号 {serial} 的申报已{status}，只有未提交的申报才能回退。",
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
    C.FILE_UNKNOWN_UNIT: "收件目录“{unit}”不对应任何已登记的单位，请联系医保中心开通账户。",
    C.FILE_HOSTILE: "文件结构异常（{what}），出于安全原因拒绝处理。",
}

# Short phrases that fill `{reason}` / `{what}` placeholders of file messages.
PHRASES: dict[str, str] = {
    "not_workbook": "不是 Excel 工作簿或 CSV 文件",
    "corrupt": "文件已损坏或不完整",
    "bad_encoding": "CSV 文件编码无法识别",
    "no_sheet": "工作簿中没有工作表",
    "file_size": "文件大小",
    "row_count": "数据行数",
    "zip_members": "压缩包内文件数",
    "zip_ratio": "压缩比异常（疑似压缩炸弹）",
    "zip_size": "解压后大小",
    "zip_path": "压缩包内含有非法路径",
    "xml_entities": "XML 中含有实体定义",
    "pixels": "图片像素数",
}

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
    "row_line": "第 {row} 行{who}：{message}",
    "file_reason": "原因：",
    "pending_hint": "成功导入的申报处于“待提交”状态，将在夜间统一提交医保中心审核。",
    "more_rows": "……另有 {more} 行未逐一列出，失败行见错误工作簿，全部明细见 JSON 回执。",
    "archived": "原文件已归档。",
    "quarantined": "原文件已隔离，未导入任何数据。",
}

ERROR_BOOK_WORDS = {
    "reason_header": "失败原因",
    "codes_header": "错误代码",
    "sheet": "失败行",
    "note": "本表只含导入失败的行。按“失败原因”修改后，把本工作簿重新放入收件箱即可；已成功导入的行不会重复导入。",
}

MASTER_WORDS = {
    "unit_header": "单位编号",
}


def _safe(template: str, params: Mapping[str, Any]) -> str:
    class Missing(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return template.format_map(Missing({k: ("" if v is None else v) for k, v in params.items()}))


def row_message(code: str, params: Mapping[str, Any]) -> str:
    """Chinese reason for a row finding."""
    return _safe(ROW_MESSAGES.get(code, code), params)


def file_message(code: str, params: Mapping[str, Any]) -> str:
    """Chinese reason for a whole-file refusal; phrase keys in params are translated."""
    shown = {k: PHRASES.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    return _safe(FILE_MESSAGES.get(code, code), shown)
