"""Stable finding codes: the machine contract of DESIGN §9. Renaming one breaks clients."""
from __future__ import annotations

# Row codes (DESIGN §9).
REQUIRED = "required"
ID_FORMAT = "id.format"
ID_BIRTHDATE = "id.birthdate"
ID_CHECKSUM = "id.checksum"
ID_NUMERIC = "id.numeric"
NAME_INVALID = "name.invalid"
SEX_MISMATCH = "sex.mismatch"
BIRTHDATE_MISMATCH = "birthdate.mismatch"
CODE_UNKNOWN = "code.unknown"
MONTH_INVALID = "month.invalid"
DATE_INVALID = "date.invalid"
MONTH_NOT_AFTER_PAID = "month.not_after_paid"
WAGE_NOT_INTEGER = "wage.not_integer"
WAGE_OUT_OF_BOUNDS = "wage.out_of_bounds"
DUPLICATE_IN_FILE = "duplicate.in_file"
DUPLICATE_IMPORTED = "duplicate.imported"
PERSON_NOT_ON_FILE = "person.not_on_file"
PERSON_NOT_INSURED_HERE = "person.not_insured_here"
PERSON_INSURED_ELSEWHERE = "person.insured_elsewhere"
PERSON_PENDING = "person.pending"
ARREARS = "arrears"
HOUSEHOLD_MISSING = "household.missing"
HOUSEHOLD_HAS_MEMBERS = "household.has_members"
PHOTO_UNREADABLE = "photo.unreadable"
PHOTO_TOO_SMALL = "photo.too_small"
PHOTO_TOO_LARGE = "photo.too_large"
PHOTO_UNKNOWN_PERSON = "photo.unknown_person"

# Row codes this product adds to §9 (documented in the README).
PERSON_ALREADY_INSURED = "person.already_insured"
RECORD_MISMATCH = "record.mismatch"
NOTHING_TO_CHANGE = "change.empty"
DECLARATION_NOT_FOUND = "declaration.not_found"
DECLARATION_NOT_PENDING = "declaration.not_pending"
TEXT_TOO_LONG = "text.too_long"
PHONE_INVALID = "phone.invalid"
FORMAT_INVALID = "format.invalid"

# An employee_add whose 参保险种 leaves out the basic insurance (region basic_insurance).
INSURANCE_WITHOUT_BASIC = "insurance.without_basic"
# A CSV row with cells past its header's last (an unquoted comma split a cell).
ROW_EXTRA_CELLS = "row.extra_cells"

# File codes (DESIGN §9).
FILE_UNREADABLE = "file.unreadable"
FILE_ENCRYPTED = "file.encrypted"
FILE_EMPTY = "file.empty"
FILE_UNKNOWN_KIND = "file.unknown_kind"
FILE_MISSING_COLUMNS = "file.missing_columns"
FILE_WRONG_UNIT = "file.wrong_unit"
FILE_TOO_LARGE = "file.too_large"
# Added: the inbox folder belongs to no registered unit; a hostile archive; a workbook with
# more than one sheet of rows under a header (only one is read: the others' rows would be lost).
FILE_UNKNOWN_UNIT = "file.unknown_unit"
FILE_HOSTILE = "file.hostile"
FILE_SEVERAL_SHEETS = "file.several_sheets"
# …and a header with two columns for one field (a hidden old 缴费工资 beside the new one): the
# first was read, silently.
FILE_DUPLICATE_COLUMNS = "file.duplicate_columns"

ROW_CODES = (
    REQUIRED, ID_FORMAT, ID_BIRTHDATE, ID_CHECKSUM, ID_NUMERIC, NAME_INVALID, SEX_MISMATCH,
    BIRTHDATE_MISMATCH, CODE_UNKNOWN, MONTH_INVALID, DATE_INVALID, MONTH_NOT_AFTER_PAID,
    WAGE_NOT_INTEGER, WAGE_OUT_OF_BOUNDS, DUPLICATE_IN_FILE, DUPLICATE_IMPORTED,
    PERSON_NOT_ON_FILE, PERSON_NOT_INSURED_HERE, PERSON_INSURED_ELSEWHERE, PERSON_PENDING,
    ARREARS, HOUSEHOLD_MISSING, HOUSEHOLD_HAS_MEMBERS, PHOTO_UNREADABLE, PHOTO_TOO_SMALL,
    PHOTO_TOO_LARGE, PHOTO_UNKNOWN_PERSON, PERSON_ALREADY_INSURED, RECORD_MISMATCH, NOTHING_TO_CHANGE,
    DECLARATION_NOT_FOUND, DECLARATION_NOT_PENDING, TEXT_TOO_LONG, PHONE_INVALID, FORMAT_INVALID,
    INSURANCE_WITHOUT_BASIC, ROW_EXTRA_CELLS,
)
FILE_CODES = (
    FILE_UNREADABLE, FILE_ENCRYPTED, FILE_EMPTY, FILE_UNKNOWN_KIND, FILE_MISSING_COLUMNS,
    FILE_WRONG_UNIT, FILE_TOO_LARGE, FILE_UNKNOWN_UNIT, FILE_HOSTILE, FILE_SEVERAL_SHEETS,
    FILE_DUPLICATE_COLUMNS,
)

# Review decisions (centre receipts; a rejected declaration is kept in the error log as
# review.rejected). Documented in the README.
REVIEW_SERIAL_INVALID = "review.serial_invalid"
REVIEW_SERIAL_UNKNOWN = "review.serial_unknown"
REVIEW_NOT_IN_BATCH = "review.not_in_batch"
REVIEW_NOT_SUBMITTED = "review.not_submitted"
REVIEW_CONFLICT = "review.conflict"
REVIEW_REASON_REQUIRED = "review.reason_required"
REVIEW_CONCLUSION_UNKNOWN = "review.conclusion_unknown"
REVIEW_REJECTED = "review.rejected"
# The row's 身份证号 / 姓名 are not those of the declaration its 业务流水号 names.
REVIEW_MISMATCH = "review.mismatch"
REVIEW_CODES = (
    REVIEW_SERIAL_INVALID, REVIEW_SERIAL_UNKNOWN, REVIEW_NOT_IN_BATCH, REVIEW_NOT_SUBMITTED,
    REVIEW_CONFLICT, REVIEW_REASON_REQUIRED, REVIEW_CONCLUSION_UNKNOWN, REVIEW_REJECTED,
    REVIEW_MISMATCH,
)
# Photo review decisions (centre receipts; a rejected photo is kept in the error log as
# review.photo_rejected). review.conclusion_unknown is shared with the declarations' review.
REVIEW_PHOTO_INVALID = "review.photo_invalid"
REVIEW_PHOTO_UNKNOWN = "review.photo_unknown"
REVIEW_PHOTO_NOT_IN_REVIEW = "review.photo_not_in_review"
REVIEW_PHOTO_SUPERSEDED = "review.photo_superseded"
REVIEW_PHOTO_CONFLICT = "review.photo_conflict"
REVIEW_PHOTO_REASON_REQUIRED = "review.photo_reason_required"
REVIEW_PHOTO_REJECTED = "review.photo_rejected"
PHOTO_REVIEW_CODES = (
    REVIEW_PHOTO_INVALID, REVIEW_PHOTO_UNKNOWN, REVIEW_PHOTO_NOT_IN_REVIEW, REVIEW_PHOTO_SUPERSEDED,
    REVIEW_PHOTO_CONFLICT, REVIEW_PHOTO_REASON_REQUIRED, REVIEW_PHOTO_REJECTED,
)

# ---- issue 4 section: communities and schools ---------------------------------------------------
# Row codes the resident kinds add (documented in the README).
HOUSEHOLD_EXISTS = "household.exists"          # 新增 of a head this unit registered already
CLASS_OUT_OF_SCOPE = "class.out_of_scope"      # a sub-account names a class it does not hold
CLASS_UNKNOWN = "class.unknown"                # not a class of this school
CLASS_SAME = "class.same"                      # transfer to the class the student is in
CLASS_EMPTY = "class.empty"                    # 班级停保 of a class with nobody insured here
RESIDENT_CODES = (HOUSEHOLD_EXISTS, CLASS_OUT_OF_SCOPE, CLASS_UNKNOWN, CLASS_SAME, CLASS_EMPTY)
ROW_CODES = ROW_CODES + RESIDENT_CODES  # type: ignore[assignment]

# Notes: facts about an accepted row that the receipt shows beside it. Never failures.
NOTE_CLASS_STOP = "note.class_stop"            # how many students a 班级停保 row covers
NOTE_PHOTO_SAVED = "note.photo_saved"          # stored, pending the centre's review
NOTE_PHOTO_SAME = "note.photo_same"            # identical to a photo already stored
NOTE_HOUSEHOLD_DONE = "note.household_done"    # a household row took effect on import
# Of a whole file, not a row (the receipt's `warnings`): it stops every insured person of its unit.
NOTE_WHOLE_STAFF = "note.whole_staff"
# Also of a whole file: the month a stop file's people are insured to (the current month, never
# the clerk's choice), and columns with something filled that the kind has not (not read).
NOTE_STOP_MONTH = "note.stop_month"
NOTE_IGNORED_COLUMNS = "note.ignored_columns"
NOTE_CODES = (NOTE_CLASS_STOP, NOTE_PHOTO_SAVED, NOTE_PHOTO_SAME, NOTE_HOUSEHOLD_DONE)
# ---- end of issue 4 section ---------------------------------------------------------------------

# ---- issue 18 section: accounts a school runs, classes, kinds by unit type ---------------------
# A kind the unit's type may not send (rules/kinds/*.toml unit_types, region switches).
FILE_KIND_NOT_ALLOWED = "file.kind_not_allowed"
FILE_CODES = FILE_CODES + (FILE_KIND_NOT_ALLOWED,)  # type: ignore[assignment]
# Classes as data (班级信息表).
CLASS_ADMIN_ONLY = "class.admin_only"          # a department or class login adds a class, or sets 年级/院系
NOTE_CLASS_SAVED = "note.class_saved"          # a class added or renamed (effective on import)
ROW_CODES = ROW_CODES + (CLASS_ADMIN_ONLY,)  # type: ignore[assignment]
NOTE_CODES = NOTE_CODES + (NOTE_CLASS_SAVED,)  # type: ignore[assignment]
# 用户维护表: a school's sub-accounts kept by the school itself.
ACCOUNT_TAKEN = "account.taken"                # the login exists, or was used and deleted
ACCOUNT_UNKNOWN = "account.unknown"            # no such (active) sub-account of this school
ACCOUNT_BEYOND = "account.beyond_scope"        # above the sender's level or outside its classes
ACCOUNT_ONE_CLASS = "account.one_class"        # a class user holds exactly one class
NOTE_ACCOUNT_DONE = "note.account_done"        # the user was added / changed / reset / deleted
ROW_CODES = ROW_CODES + (ACCOUNT_TAKEN, ACCOUNT_UNKNOWN, ACCOUNT_BEYOND,  # type: ignore[assignment]
                         ACCOUNT_ONE_CLASS)
NOTE_CODES = NOTE_CODES + (NOTE_ACCOUNT_DONE,)  # type: ignore[assignment]
# ---- end of issue 18 section --------------------------------------------------------------------
# ---- issue 15 / 21 section: text that cannot travel, business-rule gaps -----------------------
TEXT_CONTROL = "text.control"                  # a cell holds a control character or noncharacter
DECLARATION_KIND_MISMATCH = "declaration.kind_mismatch"   # withdraw: 业务类型 is not the serial's kind
FORMULA_ERROR = "cell.formula_error"           # a cell shows a formula's error value (#N/A …)
FORMULA_UNSAVED = "cell.formula_unsaved"       # a formula cell whose file holds no value it made
ROW_CODES = ROW_CODES + (TEXT_CONTROL, DECLARATION_KIND_MISMATCH,  # type: ignore[assignment]
                         FORMULA_ERROR, FORMULA_UNSAVED)
# ---- end of issue 15 / 21 section ---------------------------------------------------------------
# ---- issue 16.4 / 16.5 section: notices, submission on the unit's word -------------------------
# Notices the centre drops into inbox/_centre/notices/ (receipts in outbox/_centre/receipts/).
NOTICE_NO_ADDRESS = "notice.no_address"        # neither a [收件单位] name prefix nor a 收件单位： line
NOTICE_UNKNOWN_UNITS = "notice.unknown_units"  # listed units (or a unit type) not on file
NOTICE_UNSAFE = "notice.unsafe"                # not a .txt/.pdf/.xlsx, or its content is not one
NOTICE_EMPTY = "notice.empty"                  # nothing in the file (or only the address line)
NOTICE_CODES = (NOTICE_NO_ADDRESS, NOTICE_UNKNOWN_UNITS, NOTICE_UNSAFE, NOTICE_EMPTY)
# 待提交清单 / 提交确认.txt sent back (rules/region.toml submission = "unit_confirms").
SUBMIT_NOT_ON_WORD = "submit.not_on_word"      # the region submits nightly: nothing to confirm
SUBMIT_STALE = "submit.stale"                  # pending declarations changed since the list
SUBMIT_NOT_CONFIRMED = "submit.not_confirmed"  # 确认提交 is not 是
SUBMIT_NO_TOKEN = "submit.no_token"            # 提交确认 names no 清单编号
SUBMIT_NOTHING = "submit.nothing"              # the list holds no pending declaration
SUBMIT_NOT_LISTED = "submit.not_listed"        # a row's 业务流水号 is not on the list (row code)
FILE_CODES = FILE_CODES + (SUBMIT_NOT_ON_WORD, SUBMIT_STALE,  # type: ignore[assignment]
                           SUBMIT_NOT_CONFIRMED, SUBMIT_NO_TOKEN, SUBMIT_NOTHING)
ROW_CODES = ROW_CODES + (SUBMIT_NOT_LISTED,)  # type: ignore[assignment]
NOTE_SUBMITTED = "note.submitted"              # a listed declaration went into batch {batch}
NOTE_CODES = NOTE_CODES + (NOTE_SUBMITTED,)  # type: ignore[assignment]
# ---- end of issue 16.4 / 16.5 section -----------------------------------------------------------
# ---- issue 16 section (items 3, 6): new enrolment vs renewal vs transfer-in --------------------
# The receipt's note beside each accepted 城乡居民参保 row: what the system judged the row to be
# (payload["enrolment"]); one code each, so programs read it from the code alone.
NOTE_ENROLMENT_NEW = "note.enrolment_new"                  # 新参保: no archive anywhere
NOTE_ENROLMENT_RENEWAL = "note.enrolment_renewal"          # 续保: an archive in this unit
NOTE_ENROLMENT_TRANSFER_IN = "note.enrolment_transfer_in"  # 调入: an archive in another unit
NOTE_ENROLMENT = {"new": NOTE_ENROLMENT_NEW, "renewal": NOTE_ENROLMENT_RENEWAL,
                  "transfer_in": NOTE_ENROLMENT_TRANSFER_IN}
NOTE_CODES = NOTE_CODES + tuple(NOTE_ENROLMENT.values())  # type: ignore[assignment]
# ---- end of issue 16 section --------------------------------------------------------------------
# ---- master data: unit codes and persons' units (exploratory test, r6 / r15) -------------------
# A units row whose 单位编号 cannot be a unit code: not the letters and digits `units add` takes
# (a path such as ../x, a space), a reserved name (_centre), or one differing from a known code
# only by case (d1001 beside D1001: two folders, one unit to a person reading them).
UNIT_CODE_INVALID = "unit.code_invalid"
# A persons row whose 单位编号 names no registered unit.
UNIT_UNKNOWN = "unit.unknown"
ROW_CODES = ROW_CODES + (UNIT_CODE_INVALID, UNIT_UNKNOWN)  # type: ignore[assignment]
# ---- end of master data section -----------------------------------------------------------------
