-- Other institutions' credits (bureau) and their monthly status history (bureau_balance).
-- Float sums and means add exact decimals (DECIMAL(38, 10)): order-independent, see store.py.
WITH balance AS (
    SELECT
        bb.SK_ID_BUREAU,
        count(*) AS months,
        count(*) FILTER (WHERE bb.STATUS IN ('1', '2', '3', '4', '5')) AS dpd_months,
        max(CASE WHEN bb.STATUS IN ('1', '2', '3', '4', '5') AND bb.MONTHS_BALANCE >= -11
                 THEN CAST(bb.STATUS AS INTEGER) ELSE 0 END) AS worst_status_12m
    FROM raw.bureau_balance bb
    WHERE bb.month = $month
    GROUP BY bb.SK_ID_BUREAU
)
SELECT
    b.SK_ID_CURR,
    count(*) AS BURO_COUNT,
    count(*) FILTER (WHERE b.CREDIT_ACTIVE = 'Active') AS BURO_ACTIVE_COUNT,
    count(*) FILTER (WHERE b.CREDIT_DAY_OVERDUE > 0) AS BURO_OVERDUE_COUNT,
    count(*) FILTER (WHERE b.DAYS_CREDIT >= -365) AS BURO_COUNT_LAST_YEAR,
    mean(b.DAYS_CREDIT) AS BURO_DAYS_CREDIT_MEAN,
    max(b.DAYS_CREDIT) AS BURO_DAYS_CREDIT_MAX,
    min(b.DAYS_CREDIT) AS BURO_DAYS_CREDIT_MIN,
    mean(CAST(b.AMT_CREDIT_SUM AS DECIMAL(38, 10))) AS BURO_AMT_CREDIT_SUM_MEAN,
    sum(CAST(b.AMT_CREDIT_SUM AS DECIMAL(38, 10))) AS BURO_AMT_CREDIT_SUM_TOTAL,
    sum(CAST(b.AMT_CREDIT_SUM_DEBT AS DECIMAL(38, 10))) AS BURO_DEBT_TOTAL,
    sum(CAST(b.AMT_CREDIT_SUM_DEBT AS DECIMAL(38, 10)))
        / nullif(sum(CAST(b.AMT_CREDIT_SUM AS DECIMAL(38, 10))), 0) AS BURO_DEBT_CREDIT_RATIO,
    sum(CAST(b.AMT_CREDIT_SUM_OVERDUE AS DECIMAL(38, 10))) AS BURO_OVERDUE_TOTAL,
    max(b.AMT_CREDIT_MAX_OVERDUE) AS BURO_MAX_OVERDUE_MAX,
    sum(bal.months) AS BB_MONTHS_COUNT,
    sum(bal.dpd_months) AS BB_DPD_MONTHS,
    sum(bal.dpd_months) / nullif(sum(bal.months), 0) AS BB_DPD_SHARE,
    max(bal.worst_status_12m) AS BB_WORST_STATUS_12M
FROM raw.bureau b
LEFT JOIN balance bal ON bal.SK_ID_BUREAU = b.SK_ID_BUREAU
WHERE b.month = $month
GROUP BY b.SK_ID_CURR
