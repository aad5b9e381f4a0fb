"""Reading what clerks send: format sniffing, guards, xlsx/xls/csv row streams, header finding."""
