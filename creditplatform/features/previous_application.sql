-- Earlier Home Credit applications, split by outcome (approved / refused).
-- Float sums and means add exact decimals (DECIMAL(38, 10)): order-independent, see store.py.
SELECT
    SK_ID_CURR,
    count(*) AS PREV_COUNT,
    count(*) FILTER (WHERE NAME_CONTRACT_STATUS = 'Approved') AS PREV_APPROVED_COUNT,
    count(*) FILTER (WHERE NAME_CONTRACT_STATUS = 'Refused') AS PREV_REFUSED_COUNT,
    avg(CAST(NAME_CONTRACT_STATUS = 'Refused' AS INTEGER)) AS PREV_REFUSED_SHARE,
    count(*) FILTER (WHERE NAME_CONTRACT_STATUS = 'Refused' AND DAYS_DECISION >= -365)
        AS PREV_REFUSED_LAST_YEAR,
    mean(CAST(AMT_CREDIT AS DECIMAL(38, 10))) AS PREV_AMT_CREDIT_MEAN,
    sum(CAST(AMT_CREDIT AS DECIMAL(38, 10))) FILTER (WHERE NAME_CONTRACT_STATUS = 'Approved')
        AS PREV_APPROVED_CREDIT_TOTAL,
    mean(CAST(AMT_APPLICATION / nullif(AMT_CREDIT, 0) AS DECIMAL(38, 10)))
        AS PREV_APP_CREDIT_RATIO_MEAN,
    max(DAYS_DECISION) AS PREV_DAYS_DECISION_MAX,
    mean(CAST(CNT_PAYMENT AS DECIMAL(38, 10))) AS PREV_CNT_PAYMENT_MEAN
FROM raw.previous_application
WHERE month = $month
GROUP BY SK_ID_CURR
