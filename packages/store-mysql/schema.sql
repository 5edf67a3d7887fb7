-- Idempotency records of @idem/store-mysql: one row per store key.
-- MySQL 8.0+ or MariaDB 10.6+. Run with: mysql <database> < schema.sql
CREATE TABLE IF NOT EXISTS `idem_records` (
  -- The store key: 'idem1:' and a digest of scope and idempotency key; bytes, compared exactly.
  `key`       VARBINARY(255) NOT NULL PRIMARY KEY,
  -- Digest of the request that claimed the key.
  fingerprint VARBINARY(255) NOT NULL,
  state       ENUM('in_progress', 'completed') NOT NULL,
  -- Owner (fencing) token while in progress; NULL once completed.
  token       VARBINARY(255) NULL,
  -- Live until, in epoch milliseconds of the database clock: the lease
  -- deadline while in progress, the expiry once completed. A row past it is
  -- treated as absent at once and deleted by purgeExpired().
  expires_at  BIGINT         NOT NULL,
  -- The stored response, once completed: headers as UTF-8 JSON [[name, value], ...].
  status      INT            NULL,
  headers     MEDIUMBLOB     NULL,
  body        LONGBLOB       NULL,
  KEY expires_at_idx (expires_at),
  CHECK (state = 'in_progress' AND token IS NOT NULL
      OR state = 'completed' AND status IS NOT NULL AND headers IS NOT NULL AND body IS NOT NULL)
) ENGINE = InnoDB;

DROP PROCEDURE IF EXISTS `idem_records_claim_v2`;
DELIMITER //
CREATE PROCEDURE `idem_records_claim_v2`(
  IN p_key VARBINARY(255), IN p_fingerprint VARBINARY(255),
  IN p_token VARBINARY(255), IN p_lease_ms BIGINT)
MODIFIES SQL DATA SQL SECURITY INVOKER
BEGIN
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  SELECT state = 'in_progress' AND token <=> p_token AS claimed,
         state, fingerprint, expires_at, status, headers, body
  FROM `idem_records` WHERE `key` = p_key AND expires_at > (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000);
  IF FOUND_ROWS() = 0 THEN
    INSERT IGNORE INTO `idem_records` (`key`, fingerprint, state, token, expires_at)
    VALUES (p_key, p_fingerprint, 'in_progress', p_token, (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000) + p_lease_ms);
    IF ROW_COUNT() <> 1 THEN
      START TRANSACTION;
      INSERT INTO `idem_records` (`key`, fingerprint, state, token, expires_at)
      VALUES (p_key, p_fingerprint, 'in_progress', p_token, (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000) + p_lease_ms)
      ON DUPLICATE KEY UPDATE
        fingerprint = IF(expires_at <= (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000), p_fingerprint, fingerprint),
        state = IF(expires_at <= (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000), 'in_progress', state),
        token = IF(expires_at <= (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000), p_token, token),
        status = IF(expires_at <= (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000), NULL, status),
        headers = IF(expires_at <= (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000), NULL, headers),
        body = IF(expires_at <= (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000), NULL, body),
        expires_at = IF(expires_at <= (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000), (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000) + p_lease_ms, expires_at);
      SELECT state = 'in_progress' AND token <=> p_token AS claimed,
             state, fingerprint, expires_at, status, headers, body
      FROM `idem_records` WHERE `key` = p_key FOR UPDATE;
      COMMIT;
    END IF;
  END IF;
END //
DELIMITER ;

DROP PROCEDURE IF EXISTS `idem_records_begin_v1`;
DELIMITER //
CREATE PROCEDURE `idem_records_begin_v1`()
MODIFIES SQL DATA SQL SECURITY INVOKER
BEGIN
  START TRANSACTION;
  SAVEPOINT idem_transaction;
END //
DELIMITER ;

DROP PROCEDURE IF EXISTS `idem_records_commit_v1`;
DELIMITER //
CREATE PROCEDURE `idem_records_commit_v1`(
  IN p_key VARBINARY(255), IN p_token VARBINARY(255), IN p_ttl_ms BIGINT,
  IN p_status INT, IN p_headers MEDIUMBLOB, IN p_body LONGBLOB)
MODIFIES SQL DATA SQL SECURITY INVOKER
BEGIN
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  RELEASE SAVEPOINT idem_transaction;
  UPDATE `idem_records` SET state = 'completed', token = NULL, expires_at = (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000) + p_ttl_ms,
    status = p_status, headers = p_headers, body = p_body
  WHERE `key` = p_key AND token = p_token AND state = 'in_progress' AND expires_at > (TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000);
  IF ROW_COUNT() = 1 THEN
    COMMIT;
    SELECT 1 AS committed;
  ELSE
    ROLLBACK;
    SELECT 0 AS committed;
  END IF;
END //
DELIMITER ;
